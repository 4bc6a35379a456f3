/* Auto-refresh that pauses while the tab is hidden, and the toolbar's "Updated ..." line. */
import { utc } from "./format.js";
import * as urlState from "./urlstate.js";

/**
 * Re-run `run` every intervalMs while the checkbox is on and the tab is visible. `run` is expected
 * to abort its own previous request (see http.js latest()), so a slow answer never piles up behind a new one.
 */
export function autoRefresh(run, { intervalMs = 30000, defaultOn = false } = {}) {
  const box = document.getElementById("auto-refresh");
  if (!box) return;
  box.checked = urlState.get("refresh", defaultOn ? "on" : "off") === "on";
  let timer = null;
  const stop = () => { if (timer) clearInterval(timer); timer = null; };
  const schedule = () => { stop(); if (box.checked && !document.hidden) timer = setInterval(run, intervalMs); };
  box.addEventListener("change", () => {
    urlState.update({ refresh: box.checked === defaultOn ? null : (box.checked ? "on" : "off") }, { replace: true });
    schedule();
    if (box.checked) run();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stop();
    else if (box.checked) { run(); schedule(); }
  });
  schedule();
}

export function markUpdated() {
  const node = document.getElementById("last-updated");
  if (!node) return;
  const now = new Date();
  node.textContent = `Updated ${now.toLocaleTimeString()}`;
  node.title = utc(now.toISOString());
}
