// The monitoring dashboard at `/` (filled in by the dashboard commit).
import { initShell } from "/web/common.js";

initShell(() => {});
