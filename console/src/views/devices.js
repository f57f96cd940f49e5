// Devices: the registry as a table (patched live as registry entries arrive) and the operator's
// forms: register, grant and withdraw an exception, revoke (confirmed), re-key, and send as a
// simulated device. Every form checks its input before sending and says what is wrong in
// words (SPEC §3.4 limits); success is confirmed; old errors go away on the next try.
import { h, replace } from "../dom.js";
import { api } from "../api.js";
import { on } from "../live.js";
import { num, verdict } from "../format.js";
import { allDevices, errorBox, okBox, note, deviceLink, txLink, seqLink, when } from "./parts.js";

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;
const NAME_RULE = "1–64 characters of A–Z a–z 0–9 _ . - (SPEC §3.4)";
const MAX_CONTENTS = 16 * 1024;
const REGISTRY = new Set(["device_registered", "simulated_device_registered", "exception_granted", "exception_withdrawn", "device_revoked", "device_rekeyed"]);

/** A labelled control with its own error line (`aria-describedby`), for the forms below. */
function field(id, label, control, hint) {
  control.id = id;
  const err = h("span", { class: "field-error", id: `${id}-err`, role: "alert" });
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  control.setAttribute("aria-describedby", [hint && `${id}-hint`, `${id}-err`].filter(Boolean).join(" "));
  const wrap = control.type === "checkbox"
    ? h("label", { class: "check", for: id }, control, label)
    : h("label", { for: id }, label, control);
  return {
    el: h("div", { class: "field" }, wrap, hintEl, err),
    control,
    set(msg) {
      err.textContent = msg ?? "";
      if (msg) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    },
  };
}

/** A form card: `check()` returns true when every field is fine (each wrong one says why);
 * `send()` does the request and returns the confirmation sentence (or node). */
function formCard(id, title, fields, submitLabel, { check, send, extra }) {
  const result = h("div", { class: "result", id: `${id}-result`, "aria-live": "polite" });
  const button = h("button", { type: "submit", id: `${id}-submit` }, submitLabel);
  const form = h("form", { id, class: "card", novalidate: true, "aria-labelledby": `${id}-h`, onsubmit: async (e) => {
    e.preventDefault();
    replace(result);
    for (const f of Object.values(fields)) f.set(null);
    if (!check()) {
      replace(result, errorBox("Nothing was sent: fix the fields marked above."));
      return;
    }
    button.disabled = true;
    try {
      const ok = await send();
      if (ok) replace(result, typeof ok === "string" ? okBox(ok) : ok);
    } catch (err) {
      replace(result, errorBox(err, "The hub refused it: "));
    } finally {
      button.disabled = false;
    }
  } },
  h("h2", { id: `${id}-h` }, title), Object.values(fields).map((f) => f.el), extra ?? null, button, result);
  return form;
}

const options = (names, placeholder) => [h("option", { value: "" }, placeholder), names.map((n) => h("option", { value: n }, n))];
/** Replaces a select's options, keeping its choice when still offered. */
function setOptions(select, names, placeholder) {
  const was = select.value;
  replace(select, options(names, placeholder));
  if (names.includes(was)) select.value = was;
}

export function render(el) {
  const devices = new Map(); // name → device, in registration order
  const tbody = h("tbody");
  const tableNote = h("div");
  const active = () => [...devices.values()].filter((d) => d.status !== "revoked");
  const row = (d) => h("tr", { "data-device": d.name, class: d.status === "revoked" ? "revoked" : null },
    h("td", {}, deviceLink(d.name)),
    h("td", {}, num(d.clearance)),
    h("td", { class: d.status === "revoked" ? "status-revoked" : null }, d.status),
    h("td", {}, d.exceptions.length ? d.exceptions.join(", ") : h("span", { class: "muted" }, "none")),
    h("td", { class: "wide" }, d.simulated ? "simulated" : "own key"),
    h("td", { class: "mono wide" }, d.key_fingerprint ?? ""),
    h("td", { class: "wide" }, d.last_seen ? [seqLink(d.last_seen.seq), " ", when(d.last_seen.time)] : h("span", { class: "muted" }, d.last_seen === null ? "never" : "—")));

  // Forms.
  const reg = {
    name: field("reg-name", "Name", h("input", { autocomplete: "off", spellcheck: "false" }), NAME_RULE),
    clearance: field("reg-clearance", "Clearance", h("input", { inputmode: "numeric", autocomplete: "off" }), "a whole number ≥ 0; higher is more privileged"),
    simulated: field("reg-simulated", "Simulated (the hub makes and holds its key)", h("input", { type: "checkbox" })),
    key: field("reg-key", "Public key (Ed25519, 64 hex digits)", h("input", { autocomplete: "off", spellcheck: "false", class: "mono" })),
    exceptions: field("reg-exceptions", "Exceptions (optional)", h("input", { autocomplete: "off" }), "registered devices it accepts despite a lower clearance, separated by commas"),
  };
  reg.simulated.control.addEventListener("change", () => { reg.key.control.disabled = reg.simulated.control.checked; });
  const registerForm = formCard("register-form", "Register a device", reg, "Register", {
    check: () => {
      let ok = true;
      const bad = (f, m) => { f.set(m); ok = false; };
      const name = reg.name.control.value.trim();
      if (!name) bad(reg.name, "Give the device a name.");
      else if (!NAME.test(name)) bad(reg.name, `A name is ${NAME_RULE}.`);
      else if (devices.has(name)) bad(reg.name, `A device named ${name} is already registered.`);
      const c = reg.clearance.control.value.trim();
      if (!c) bad(reg.clearance, "Give a clearance: a whole number, 0 or more (empty is not 0).");
      else if (!/^\d+$/.test(c) || Number(c) > 4294967295) bad(reg.clearance, "A clearance is a whole number from 0 to 4,294,967,295.");
      if (!reg.simulated.control.checked) {
        const k = reg.key.control.value.trim();
        if (!k) bad(reg.key, "Give its public key, or tick Simulated.");
        else if (!HEX64.test(k)) bad(reg.key, `A public key is exactly 64 hex digits (0–9, a–f); this has ${k.length} characters${/[^0-9a-fA-F]/.test(k) ? ", some not hex" : ""}.`);
        else if ([...devices.values()].some((d) => (d.keys ?? [{ public_key: d.public_key }]).some((x) => x.public_key === k.toLowerCase()))) bad(reg.key, "This key is already registered to a device (a key is never reused).");
      }
      const ex = exceptionNames();
      const unknown = ex.filter((n) => !devices.has(n));
      if (unknown.length) bad(reg.exceptions, `An exception must name a registered device: ${unknown.join(", ")} ${unknown.length === 1 ? "is" : "are"} not.`);
      return ok;
    },
    send: async () => {
      const body = { name: reg.name.control.value.trim(), clearance: Number(reg.clearance.control.value.trim()), exceptions: exceptionNames() };
      if (reg.simulated.control.checked) body.simulated = true;
      else body.public_key = reg.key.control.value.trim().toLowerCase();
      const d = await api("/v1/devices", { method: "POST", body });
      upsert(d);
      for (const f of Object.values(reg)) if (f.control.type !== "checkbox") f.control.value = "";
      return h("p", { class: "ok-box", role: "status" }, "Registered ", deviceLink(d.name), ` (clearance ${num(d.clearance)}${d.simulated ? ", simulated" : ""}) as entry #${d.registered_seq}.`);
    },
  });
  const exceptionNames = () => reg.exceptions.control.value.split(",").map((x) => x.trim()).filter(Boolean);

  const grant = {
    device: field("grant-device", "Receiving device", h("select")),
    sender: field("grant-sender", "Sender it accepts", h("input", { list: "device-names", autocomplete: "off" }), "a registered device"),
  };
  const grantForm = formCard("grant-form", "Grant an exception", grant, "Grant", {
    check: () => {
      let ok = true;
      const d = grant.device.control.value, sname = grant.sender.control.value.trim();
      if (!d) { grant.device.set("Choose the receiving device."); ok = false; }
      if (!sname) { grant.sender.set("Name the sender it should accept."); ok = false; }
      else if (!devices.has(sname)) { grant.sender.set(`An exception must name a registered device: ${sname} is not.`); ok = false; }
      else if (d && devices.get(d)?.exceptions.includes(sname)) { grant.sender.set(`${d} already accepts ${sname}.`); ok = false; }
      else if (sname === d) { grant.sender.set("A device does not need an exception for itself."); ok = false; }
      return ok;
    },
    send: async () => {
      const d = grant.device.control.value, sname = grant.sender.control.value.trim();
      upsert(await api(`/v1/devices/${encodeURIComponent(d)}/exceptions`, { method: "POST", body: { sender: sname } }));
      grant.sender.control.value = "";
      return `${d} now accepts messages of transactions begun by ${sname}, despite its lower clearance.`;
    },
  });

  const withdraw = {
    device: field("withdraw-device", "Receiving device", h("select")),
    sender: field("withdraw-sender", "Exception to withdraw", h("select")),
  };
  const senders = () => setOptions(withdraw.sender.control, devices.get(withdraw.device.control.value)?.exceptions ?? [], "— choose —");
  withdraw.device.control.addEventListener("change", senders);
  const withdrawForm = formCard("withdraw-form", "Withdraw an exception", withdraw, "Withdraw", {
    check: () => {
      let ok = true;
      if (!withdraw.device.control.value) { withdraw.device.set("Choose a device that has an exception."); ok = false; }
      if (!withdraw.sender.control.value) { withdraw.sender.set("Choose the exception to withdraw."); ok = false; }
      return ok;
    },
    send: async () => {
      const d = withdraw.device.control.value, sname = withdraw.sender.control.value;
      await api(`/v1/devices/${encodeURIComponent(d)}/exceptions/${encodeURIComponent(sname)}`, { method: "DELETE" });
      upsert(await api(`/v1/devices/${encodeURIComponent(d)}`));
      return `${d} no longer accepts ${sname} by exception.`;
    },
  });

  const revoke = { device: field("revoke-device", "Device to revoke", h("select"), "for good: it can never send or receive a valid message again") };
  const confirmBox = h("div", { class: "confirm", hidden: true, role: "group", "aria-label": "Confirm the revocation" });
  let confirmed = false;
  const revokeForm = formCard("revoke-form", "Revoke a device", revoke, "Revoke…", {
    extra: confirmBox,
    check: () => {
      if (!revoke.device.control.value) { revoke.device.set("Choose the device to revoke."); return false; }
      return true;
    },
    send: async () => {
      const d = revoke.device.control.value;
      if (!confirmed) {
        // Ask first: revocation cannot be undone.
        replace(confirmBox,
          h("span", { id: "revoke-question" }, `Revoke ${d} for good? This cannot be undone.`),
          h("button", { type: "button", class: "danger", id: "revoke-confirm", onclick: () => { confirmed = true; revokeForm.requestSubmit(); } }, `Yes, revoke ${d}`),
          h("button", { type: "button", class: "secondary", onclick: () => { confirmBox.hidden = true; } }, "Cancel"));
        confirmBox.hidden = false;
        confirmBox.querySelector("#revoke-confirm").focus();
        return null;
      }
      confirmed = false;
      confirmBox.hidden = true;
      await api(`/v1/devices/${encodeURIComponent(d)}/revoke`, { method: "POST" });
      upsert(await api(`/v1/devices/${encodeURIComponent(d)}`));
      return `${d} is revoked: its messages are now recorded as invalid (sender_revoked), and it is no longer offered as a sender or receiver.`;
    },
  });
  revoke.device.control.addEventListener("change", () => { confirmBox.hidden = true; confirmed = false; });

  const rekey = {
    device: field("rekey-device", "Device", h("select")),
    key: field("rekey-key", "New public key (64 hex digits)", h("input", { autocomplete: "off", spellcheck: "false", class: "mono" })),
  };
  const rekeyForm = formCard("rekey-form", "Re-key a device", rekey, "Re-key", {
    check: () => {
      let ok = true;
      const k = rekey.key.control.value.trim();
      if (!rekey.device.control.value) { rekey.device.set("Choose the device."); ok = false; }
      if (!HEX64.test(k)) { rekey.key.set("A public key is exactly 64 hex digits (0–9, a–f)."); ok = false; }
      else if ([...devices.values()].some((d) => (d.keys ?? [{ public_key: d.public_key }]).some((x) => x.public_key === k.toLowerCase()))) { rekey.key.set("This key was already registered: a key is never reused."); ok = false; }
      return ok;
    },
    send: async () => {
      const d = rekey.device.control.value;
      upsert(await api(`/v1/devices/${encodeURIComponent(d)}/rekey`, { method: "POST", body: { public_key: rekey.key.control.value.trim().toLowerCase() } }));
      rekey.key.control.value = "";
      return `${d} has a new key: its messages from now on are checked with it; earlier ones still verify with the old one.`;
    },
  });

  const send = {
    from: field("send-from", "Send as (simulated, active)", h("select")),
    to: field("send-to", "To (active)", h("select")),
    action: field("send-action", "Action", h("select", {}, ["begin", "continue", "end"].map((a) => h("option", { value: a }, a)))),
    tx: field("send-tx", "Transaction (for continue and end)", h("input", { inputmode: "numeric", autocomplete: "off" })),
    cause: field("send-cause", "Cause (optional: seq of the message that triggered it)", h("input", { inputmode: "numeric", autocomplete: "off" })),
    contents: field("send-contents", "Contents", h("textarea", { rows: 2 }), "UTF-8 text, at most 16 KiB"),
  };
  const sendForm = formCard("send-form", "Send as a simulated device", send, "Send", {
    check: () => {
      let ok = true;
      const bad = (f, m) => { f.set(m); ok = false; };
      const from = send.from.control.value, to = send.to.control.value, action = send.action.control.value;
      const tx = send.tx.control.value.trim(), cause = send.cause.control.value.trim();
      if (!from) bad(send.from, "Choose the sender: an active device whose key the hub holds.");
      if (!to) bad(send.to, "Choose the receiver: an active device.");
      if (action === "begin" && tx) bad(send.tx, "A begin opens a new transaction: leave this empty (the hub assigns the id).");
      if (action !== "begin" && !/^[1-9]\d*$/.test(tx)) bad(send.tx, `A ${action} names its transaction: a whole number from 1.`);
      if (cause && !/^\d+$/.test(cause)) bad(send.cause, "A cause is a seq: a whole number, 0 or more.");
      const bytes = new TextEncoder().encode(send.contents.control.value).length;
      if (bytes > MAX_CONTENTS) bad(send.contents, `Contents are at most 16 KiB (16,384 bytes of UTF-8); this is ${num(bytes)} bytes.`);
      return ok;
    },
    send: async () => {
      const from = send.from.control.value, action = send.action.control.value;
      const body = { receiver: send.to.control.value, action, contents: send.contents.control.value };
      if (action !== "begin") body.tx = Number(send.tx.control.value.trim());
      if (send.cause.control.value.trim()) body.cause = Number(send.cause.control.value.trim());
      const r = await api(`/v1/devices/${encodeURIComponent(from)}/send`, { method: "POST", body });
      return h("p", { id: "send-result", class: r.valid ? "ok-box" : "bad-box", role: "status" },
        "Recorded as ", seqLink(r.seq), " in ", txLink(r.tx), `: ${verdict(r)}.`);
    },
  });

  function refreshChoices() {
    const act = active().map((d) => d.name);
    setOptions(grant.device.control, act, "— choose —");
    setOptions(withdraw.device.control, [...devices.values()].filter((d) => d.exceptions.length).map((d) => d.name), "— choose —");
    senders();
    setOptions(revoke.device.control, act, "— choose —");
    setOptions(rekey.device.control, act, "— choose —");
    setOptions(send.from.control, active().filter((d) => d.simulated).map((d) => d.name), "— choose —");
    setOptions(send.to.control, act, "— choose —");
    replace(datalist, [...devices.keys()].map((n) => h("option", { value: n })));
  }
  const datalist = h("datalist", { id: "device-names" });

  function upsert(d) {
    const had = devices.has(d.name);
    devices.set(d.name, d);
    const old = tbody.querySelector(`tr[data-device="${CSS.escape(d.name)}"]`);
    if (old) old.replaceWith(row(d));
    else if (!had) tbody.append(row(d));
    refreshChoices();
  }

  // Live: a registry entry (registration, exception, revocation, re-key) re-reads that one
  // device and patches its row and the forms' choices.
  const off = on("entry", async (ev) => {
    if (!ev || !REGISTRY.has(ev.kind)) return;
    const name = ev.name ?? ev.device;
    try { upsert(await api(`/v1/devices/${encodeURIComponent(name)}`)); } catch (e) { console.warn(e); }
  });

  replace(el,
    h("h1", {}, "Devices"),
    h("nav", { class: "jump", "aria-label": "Forms on this page" }, "Forms: ",
      [["register-form", "register"], ["send-form", "send"], ["grant-form", "grant"], ["withdraw-form", "withdraw"], ["revoke-form", "revoke"], ["rekey-form", "re-key"]]
        .map(([id, label], i) => [i ? " · " : "", h("a", { href: `#devices`, "data-form": id, onclick: (e) => { e.preventDefault(); const f = document.getElementById(id); f.scrollIntoView(); f.querySelector("input, select, textarea")?.focus(); } }, label)])),
    tableNote,
    h("div", { class: "table-wrap" }, h("table", { class: "devices" },
      h("caption", { class: "muted" }, "Registered devices in registration order; revoked ones are marked."),
      h("thead", {}, h("tr", {}, ["name", "clearance", "status", "exceptions (accepts)", "key", "fingerprint", "last seen"].map((c, i) => h("th", { scope: "col", class: i > 3 ? "wide" : null }, c)))),
      tbody)),
    datalist,
    h("div", { class: "forms" }, registerForm, sendForm, grantForm, withdrawForm, revokeForm, rekeyForm));

  const loadAll = () => allDevices().then(({ devices: list, complete }) => {
    devices.clear();
    for (const d of list) devices.set(d.name, d);
    replace(tbody, list.map(row));
    refreshChoices();
    replace(tableNote, complete ? null : note(`Showing the first ${num(list.length)} devices only.`));
  }, (e) => replace(tableNote, errorBox(e)));
  loadAll();
  // The hub could not replay what the page missed while disconnected: read the registry again.
  const offReset = on("reset", loadAll);
  return () => { off(); offReset(); };
}
