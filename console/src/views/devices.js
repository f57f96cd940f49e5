// The devices view (to be built: issue 12).
import { h } from "../dom.js";

export function render(el) {
  el.append(h("h1", {}, "devices"));
}
