// The page's frame: navigation, the live connection state and the operator token.
import { h, replace } from "../dom.js";
import { onState } from "../live.js";

const NAV = [
  ["#", "Incidents", "^$"],
  ["#messages", "Messages", "^messages$"],
  ["#devices", "Devices", "^device"],
  ["#security", "Security", "^security$"],
  ["#ledger", "Ledger", "^ledger$"],
];

export function shell({ nav, status }) {
  replace(nav, NAV.map(([href, label, match]) => h("a", { href, "data-match": match }, label)));
  onState((s) => replace(status, s.name));
}
