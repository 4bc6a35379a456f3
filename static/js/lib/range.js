/*
 * The time-range control of the toolbar: a preset (last hour ... last 30 days) or a custom range,
 * kept in the URL, and turned into the API's start_date/end_date.
 */
import * as urlState from "./urlstate.js";

const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const RANGE_NAMES = { "1h": "hour", "24h": "24 hours", "7d": "7 days", "30d": "30 days" };

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The exclusive end (ms) of a custom range from the URL. A date alone means the whole of that day,
 * as the API reads a date-only end_date. `end` (ours) is already exclusive; `end_date` (the API's
 * name, which alert emails link with) is an inclusive instant, so the range ends just after it.
 */
function parseEnd(text, inclusive) {
  if (DATE_ONLY.test(text)) return Date.parse(text) + 86400e3;
  const end = Date.parse(text);
  return inclusive ? end + 1 : end;
}

/**
 * The window the URL asks for, half-open [start, end): a preset ending now (to the next minute)
 * or a custom start/end. rangeParams() turns it into the API's inclusive end_date.
 */
export function currentRange(defaultKey = "24h") {
  // start_date/end_date (the API's names) are accepted too: alert emails link to /logs/?start_date=…
  const custom = urlState.get("start") || urlState.get("start_date");
  const key = urlState.get("range", custom ? "custom" : defaultKey);
  if (key === "custom") {
    const ownEnd = urlState.get("end");
    const start = Date.parse(custom);
    const end = parseEnd(ownEnd || urlState.get("end_date"), !ownEnd);
    if (!Number.isNaN(start) && !Number.isNaN(end) && start < end) {
      return { key, start: new Date(start), end: new Date(end), label: "custom range" };
    }
  }
  const preset = RANGES[key] ? key : defaultKey;
  const end = new Date(Math.ceil(Date.now() / 60000) * 60000);
  return { key: preset, start: new Date(end - RANGES[preset]), end, label: `last ${RANGE_NAMES[preset]}` };
}

export function previousRange(range) {
  const span = range.end - range.start;
  return { start: new Date(range.start - span), end: new Date(range.start) };
}

export function autoGroupBy(range) {
  const span = range.end - range.start;
  if (span <= 3 * 3600e3) return "minute";
  if (span <= 2 * 86400e3) return "hour";
  if (span <= 92 * 86400e3) return "day";
  return "month";
}

export const apiDate = (d) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
// The API's datetime end_date is inclusive, and a window ending on a bucket boundary (a whole hour,
// midnight) would then reach one instant into the next bucket: the charts grew an empty trailing
// bucket and the previous period shared its last instant with this one. So the last instant sent is
// the microsecond before `end` (timestamps are stored to the microsecond): exactly [start, end).
const lastInstant = (d) => new Date(d.getTime() - 1).toISOString().replace(/Z$/, "999Z");
export const rangeParams = (range) => ({ start_date: apiDate(range.start), end_date: lastInstant(range.end) });

function toLocalInput(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

/** Wire the toolbar's range control to the URL; onChange() runs after every change. Returns sync(). */
export function bindRange(defaultKey, onChange) {
  const form = document.getElementById("range-form");
  if (!form) return () => {};
  const select = form.querySelector("#range");
  const start = form.querySelector("#range-start");
  const end = form.querySelector("#range-end");
  const showCustom = (on) => form.querySelectorAll("[data-custom]").forEach((n) => { n.hidden = !on; });
  function sync() {
    const range = currentRange(defaultKey);
    select.value = range.key;
    showCustom(range.key === "custom");
    start.value = toLocalInput(range.start);
    end.value = toLocalInput(range.end);
  }
  select.addEventListener("change", () => {
    if (select.value === "custom") { showCustom(true); start.focus(); return; }
    urlState.update({ range: select.value === defaultKey ? null : select.value, start: null, end: null, start_date: null, end_date: null });
    sync();
    onChange();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const s = new Date(start.value), e = new Date(end.value);
    if (Number.isNaN(s.getTime()) || Number.isNaN(e.getTime()) || s >= e) {
      end.setCustomValidity("The end must be after the start.");
      end.reportValidity();
      return;
    }
    end.setCustomValidity("");
    urlState.update({ range: "custom", start: apiDate(s), end: apiDate(e), start_date: null, end_date: null });
    onChange();
  });
  sync();
  return sync;
}
