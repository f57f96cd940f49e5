// The console in real headless Chromium against a live `m2mhub demo` (see harness.mjs): every
// flow in flows/ shares the harness's one demo warm-up.
import "./harness.mjs";
import "./flows/shell.mjs";
import "./flows/tx.mjs";
