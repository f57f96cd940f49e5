// The live connection to the hub (SPEC §5 "Live events"): one Server-Sent Events stream read
// with fetch, so the page controls `Last-Event-ID` on every reconnect and knows at every
// moment whether it is live. Views subscribe to `entry`, `block` and `reset` events; the
// header shows the connection state (see `onState`).
//
// Written by hand rather than with EventSource: EventSource gives up for good on an HTTP
// error, cannot be told the last id after it closes, and hides whether it is reconnecting.

const listeners = { entry: new Set(), block: new Set(), reset: new Set() };
const stateListeners = new Set();
let state = { name: "connecting", since: Date.now(), retryIn: 0 };
let lastId = null;
/** The hub sends a keep-alive every 15 s: silence for longer than this means a dead link. */
const SILENCE_MS = 35_000;

/** Calls `f(data, id)` for each `type` event (`entry`, `block`, `reset`); returns an unsubscribe. */
export function on(type, f) {
  listeners[type].add(f);
  return () => listeners[type].delete(f);
}

/** Calls `f(state)` now and on every change; `state.name` is `connecting`, `live` or
 * `reconnecting` (then `retryIn` ms). Returns an unsubscribe. */
export function onState(f) {
  stateListeners.add(f);
  f(state);
  return () => stateListeners.delete(f);
}

export const liveState = () => state;
/** The tree size the page has seen events up to (the last event id), or null. */
export const lastEventId = () => lastId;

function setState(name, extra = {}) {
  state = { name, since: Date.now(), retryIn: 0, ...extra };
  for (const f of stateListeners) f(state);
}

function dispatch(type, data, id) {
  if (id !== null) lastId = id;
  const set = listeners[type];
  if (!set) return;
  let value = data;
  try { value = data ? JSON.parse(data) : null; } catch { /* keep text */ }
  for (const f of set) {
    try { f(value, id); } catch (e) { console.error(e); }
  }
}

async function readStream(signal, watchdog) {
  const headers = { accept: "text/event-stream" };
  if (lastId !== null) headers["last-event-id"] = lastId;
  const r = await fetch("/v1/events", { headers, signal, cache: "no-store" });
  if (!r.ok || !r.body) throw new Error(`events: HTTP ${r.status}`);
  setState("live");
  await readEvents(r.body, dispatch, watchdog);
}

/** Reads an SSE body to its end, calling `onEvent(type, data, id)` per event and `onChunk()`
 * per chunk received (keep-alives included). Shared with the security view's operator stream. */
export async function readEvents(body, onEvent, onChunk = () => {}) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "", type = "message", data = [], id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onChunk();
    buf += value;
    let nl;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1));
      if (line === "") {
        if (data.length) onEvent(type, data.join("\n"), id);
        type = "message"; data = []; id = null;
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const v = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = v;
      else if (field === "data") data.push(v);
      else if (field === "id") id = v;
    }
  }
}

/** Starts the connection (once); reconnects with backoff for as long as the page lives. */
export async function start() {
  let delay = 1000;
  for (;;) {
    const ctl = new AbortController();
    let timer;
    const watchdog = () => {
      clearTimeout(timer);
      timer = setTimeout(() => ctl.abort(), SILENCE_MS);
    };
    watchdog();
    try {
      await readStream(ctl.signal, () => { watchdog(); delay = 1000; });
    } catch { /* fall through to reconnect */ }
    clearTimeout(timer);
    setState("reconnecting", { retryIn: delay });
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 15_000);
    setState("connecting");
  }
}
