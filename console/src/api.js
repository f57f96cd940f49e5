// Talking to the hub's API (SPEC §5): JSON in and out, errors turned into sentences, and the
// operator token, kept for this browser tab's session only (sessionStorage).
import { codeWords } from "./format.js";

const TOKEN_KEY = "m2mhub-operator-token";

export class ApiError extends Error {
  /** `status` 0 when the hub did not answer; `code` the hub's error code (or `no_token`,
   * `wrong_token`, `unreachable`); `message` a sentence for a person. */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const token = () => sessionStorage.getItem(TOKEN_KEY) ?? "";
export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
  for (const f of tokenListeners) f(t);
}
const tokenListeners = new Set();
/** Calls `f(token)` when the token changes; returns an unsubscribe. */
export const onToken = (f) => { tokenListeners.add(f); return () => tokenListeners.delete(f); };
/** Calls `f(code)` (`no_token` or `wrong_token`) whenever the hub refuses a request for its
 * token, so the header can say which. */
const refusedListeners = [];
export const onRefused = (f) => refusedListeners.push(f);

/** A query string from `params`, skipping null, undefined and "" values: `?a=1&b=x`. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== null && v !== undefined && v !== "") p.set(k, String(v));
  const t = p.toString();
  return t ? `?${t}` : "";
}

async function request(path, { method = "GET", body, signal } = {}) {
  const headers = {};
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "unreachable", "The hub did not answer. Is it running, and is this page still connected to it?");
  }
  if (r.ok) return r;
  if (r.status === 401) {
    for (const f of refusedListeners) f(t ? "wrong_token" : "no_token");
    throw t
      ? new ApiError(401, "wrong_token", "The hub refused the operator token: it is not this hub's token.")
      : new ApiError(401, "no_token", "This needs the operator token: enter it at the top of the page.");
  }
  let code = `http_${r.status}`, message = r.statusText;
  try {
    const e = await r.json();
    code = e.error ?? code;
    message = e.message ?? message;
  } catch { /* not JSON */ }
  throw new ApiError(r.status, code, codeWords(code, message));
}

/** The JSON answer of `path`; throws [`ApiError`]. */
export async function api(path, opts) {
  return (await request(path, opts)).json();
}

/** The text answer of `path` (checkpoints, keys). */
export async function apiText(path, opts) {
  return (await request(path, opts)).text();
}
