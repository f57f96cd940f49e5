// Times on the transaction page: records carry their block's seal time (SPEC §5), to the
// millisecond, so the page shows milliseconds and durations between messages.

const p2 = (n) => String(n).padStart(2, "0");

/** ISO time → local "HH:MM:SS.mmm" ("" for null). By hand, not toLocaleTimeString: a
 * 1,000-message tree formats thousands of times per redraw and Intl costs ~0.2 ms a call. */
export function clock(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** ISO time → local "YYYY-MM-DD HH:MM:SS.mmm". */
export const stamp = (iso) => (iso ? `${new Date(iso).toLocaleDateString("en-CA")} ${clock(iso)}` : "unknown");

/** Milliseconds → "0 ms", "12 ms", "1.234 s", "2 min 5 s", "3 h 2 min". */
export function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 3 : 1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}
