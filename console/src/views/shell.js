// The page's frame: navigation, the live connection state (live, reconnecting in N s, offline,
// with the tree size the page last saw) and the operator token, kept for this tab's session
// only, that tells "no token" apart from "wrong token".
import { h, replace } from "../dom.js";
import { onState, on, lastEventId } from "../live.js";
import { api, token, setToken, onToken, onRefused } from "../api.js";
import { num, time } from "../format.js";

const NAV = [
  ["#", "Incidents", "^$"],
  ["#messages", "Messages", "^messages$"],
  ["#devices", "Devices", "^device"],
  ["#security", "Security", "^security$"],
  ["#ledger", "Ledger", "^ledger$"],
  ["#federation", "Federation", "^federation"],
];

/** Without a live stream for this long, the page calls itself offline rather than reconnecting. */
const OFFLINE_AFTER_MS = 30_000;

export function shell({ nav, status, tokenSlot }) {
  replace(nav, NAV.map(([href, label, match]) => h("a", { href, "data-match": match }, label)));
  connection(status);
  tokenField(tokenSlot);
}

function connection(status) {
  let st = { name: "connecting", since: Date.now(), retryIn: 0 };
  let lastLive = null;
  let downSince = Date.now();
  let tick = null;
  const dot = h("span", { class: "dot", "aria-hidden": "true" });
  const words = h("span", { class: "state-words" });
  // The size changes with every block: read on demand, not announced (the state words are).
  const size = h("span", { class: "tree-size muted", "aria-live": "off" });
  replace(status, dot, words, size);
  // The countdown's seconds are not announced each second: only the words around them, which
  // change with the state.
  const secsEl = h("span", { "aria-live": "off" });
  function draw() {
    const now = Date.now();
    let name = st.name, text, secs = null;
    if (st.name === "live") text = "live";
    else if (st.name === "connecting") text = lastLive ? "reconnecting now" : "connecting…";
    else {
      secs = Math.max(0, Math.ceil((st.since + st.retryIn - now) / 1000));
      if (!navigator.onLine || now - downSince > OFFLINE_AFTER_MS) {
        name = "offline";
        text = `offline${lastLive ? ` since ${time(new Date(lastLive).toISOString())}` : ""}, retrying in`;
      } else text = "reconnecting in";
    }
    status.dataset.state = name;
    if (words.firstChild?.nodeValue !== text) replace(words, text, secs === null ? null : [" ", secsEl, " s"]);
    secsEl.textContent = secs ?? "";
    const id = lastEventId();
    size.textContent = id !== null ? ` · tree size ${num(Number(id))}${st.name === "live" ? "" : " last seen"}` : "";
  }
  onState((s) => {
    if (st.name === "live" && s.name !== "live") lastLive = downSince = Date.now();
    st = s;
    clearInterval(tick);
    tick = null;
    // A countdown needs redrawing every second; "live" changes only with events.
    if (s.name === "reconnecting") tick = setInterval(draw, 1000);
    draw();
  });
  // The tree size follows blocks (not every entry: a busy hub sends hundreds per second).
  on("block", () => draw());
  addEventListener("online", draw);
  addEventListener("offline", draw);
}

function tokenField(slot) {
  const summary = h("summary", {});
  const input = h("input", { id: "token", type: "password", autocomplete: "off", spellcheck: "false", size: 18 });
  const says = h("p", { id: "token-says", class: "token-says", "aria-live": "polite" });
  const form = h("form", { class: "token-form", onsubmit: async (e) => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) { says.textContent = "Type the operator token first (the hub printed where it is when it started)."; return; }
    setToken(t);
    input.value = "";
    // Check it at once, on an operator route that changes nothing.
    try {
      await api("/v1/security-events?limit=1");
      draw("ok");
    } catch (err) {
      if (err.code !== "wrong_token") draw("unchecked", err.message);
    }
  } },
  h("label", { for: "token" }, "Operator token (kept for this tab only)"),
  h("div", { class: "token-row" }, input, h("button", { type: "submit" }, "Use"),
    h("button", { type: "button", class: "secondary", onclick: () => { setToken(""); draw("none"); } }, "Forget")),
  says);
  const details = h("details", { class: "token" }, summary, form);
  replace(slot, details);
  function draw(state, extra) {
    slot.dataset.token = state;
    const [short, long] = {
      none: ["no token", "No operator token: you can look at everything public; registering, sending and the security view need it."],
      set: ["token set", "A token is set for this tab (not yet checked by the hub)."],
      ok: ["token accepted", "The hub accepted this token."],
      unchecked: ["token set", `A token is set; the hub could not check it: ${extra}`],
      no_token: ["no token", "The hub refused a request because no operator token is set: enter it here."],
      wrong_token: ["wrong token", "The hub refused the token: it is not this hub's operator token. Enter the right one."],
    }[state];
    replace(summary, h("span", { class: `token-badge token-${state}` }, `Operator: ${short}`));
    says.textContent = long;
    if (state === "no_token" || state === "wrong_token") details.open = true;
  }
  draw(token() ? "set" : "none");
  onToken((t) => { if (!t) draw("none"); else if (slot.dataset.token === "none") draw("set"); });
  onRefused((code) => draw(code));
}
