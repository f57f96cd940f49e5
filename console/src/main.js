// The console's entry point: the shell (navigation, connection state, operator token) and the
// routes of every view. Each view lives in views/ and owns its part of the page.
import { $ } from "./dom.js";
import { route, start as startRouter } from "./router.js";
import * as live from "./live.js";
import { shell } from "./views/shell.js";
import * as incidents from "./views/incidents.js";
import * as messages from "./views/messages.js";
import * as devices from "./views/devices.js";
import * as device from "./views/device.js";
import * as security from "./views/security.js";
import * as tx from "./views/tx.js";
import * as message from "./views/message.js";
import * as ledger from "./views/ledger.js";
import * as federation from "./views/federation.js";

route(/^$/, incidents.render, "Incidents");
route(/^messages$/, messages.render, "Messages");
route(/^devices$/, devices.render, "Devices");
route(/^device\/(.+)$/, device.render, (m) => `Device ${m[1]}`);
route(/^security$/, security.render, "Security");
route(/^tx\/(\d+)$/, tx.render, (m) => `Transaction ${m[1]}`);
route(/^msg\/(\d+)$/, message.render, (m) => `Message ${m[1]}`);
route(/^ledger$/, ledger.render, "Ledger");
route(/^federation(?:\/(.+))?$/, federation.render, (m) => (m[1] ? `${m[1]} across the federation` : "Federation"));

shell({ nav: $("#nav"), status: $("#status"), tokenSlot: $("#token-slot") });
live.start();
startRouter();
