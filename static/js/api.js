/*
 * Shared helpers for every dashboard page (window.Obs):
 * - api(): fetch with the CSRF header, a timeout, one error type, and abort of the previous request;
 * - formatting of numbers, money, durations and times (browser time zone, UTC on hover);
 * - state kept in the URL (time range and filters), so a view is a shareable link and back/forward work;
 * - the time-range control, auto-refresh that pauses while the tab is hidden;
 * - Chart.js charts created once and updated in place, with a colour-blind-safe palette, one colour
 *   per model name on every page, and partial first/last time buckets hatched;
 * - loading / empty / error states.
 * Logged strings (prompts, responses, user ids, messages) are only ever inserted with textContent.
 */
"use strict";

(function () {
  const API_ROOT = document.body.dataset.apiRoot || "/api/";
  const EMPTY_MESSAGE = "No calls logged yet — send one from the Playground or run `make demo`.";

  // ---- HTTP -------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body, message) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.body = body;
      this.fields = (body && body.fields) || {};
    }
  }

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function apiUrl(path, params) {
    const url = new URL(path.startsWith("/") ? path : API_ROOT + path, window.location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
    }
    return url;
  }

  function describeFailure(status, body, text) {
    if (status === 401 || status === 403) return "Your session has expired or lacks permission — log in again.";
    if (body && body.error) {
      const fields = Object.entries(body.fields || {}).map(([name, msg]) => `${name}: ${msg}`);
      return fields.length ? `${body.error} (${fields.join("; ")})` : body.error;
    }
    if (body && body.message) return body.message;
    return `The server answered ${status}${text ? "" : " with no body"}.`;
  }

  /** Fetch JSON from the API. Throws ApiError (status 0 for network/timeout); aborts propagate as AbortError. */
  async function api(path, { method = "GET", params = null, json = undefined, signal = null, timeoutMs = 30000 } = {}) {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; controller.abort(); }, timeoutMs);
    const forward = () => controller.abort();
    if (signal) {
      if (signal.aborted) controller.abort();
      else signal.addEventListener("abort", forward, { once: true });
    }
    const headers = { Accept: "application/json" };
    const init = { method, headers, signal: controller.signal, credentials: "same-origin" };
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    try {
      const response = await fetch(apiUrl(path, params), init);
      const text = response.status === 204 ? "" : await response.text();
      let body = null;
      try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
      if (!response.ok) throw new ApiError(response.status, body, describeFailure(response.status, body, text));
      return body;
    } catch (err) {
      if (err.name === "AbortError" && timedOut) throw new ApiError(0, null, `No answer within ${timeoutMs / 1000} s.`);
      if (err instanceof TypeError) throw new ApiError(0, null, "Could not reach the server.");
      throw err;
    } finally {
      clearTimeout(timer);
      if (signal) signal.removeEventListener("abort", forward);
    }
  }

  function isAbort(err) {
    return err && err.name === "AbortError";
  }

  /** Returns a function giving a fresh AbortSignal each call and aborting the previous one. */
  function latest() {
    let controller = null;
    return function next() {
      if (controller) controller.abort();
      controller = new AbortController();
      return controller.signal;
    };
  }

  // ---- Formatting -------------------------------------------------------------------------

  const DASH = "—";
  const isNum = (v) => v !== null && v !== undefined && v !== "" && !Number.isNaN(Number(v));

  const fmt = {
    int(v) { return isNum(v) ? Math.round(Number(v)).toLocaleString("en-US") : DASH; },
    compact(v) {
      if (!isNum(v)) return DASH;
      const n = Number(v), a = Math.abs(n);
      const units = [[1e9, "B"], [1e6, "M"], [1e3, "k"]];
      for (const [size, suffix] of units) {
        if (a >= size) {
          const scaled = n / size;
          return (Math.abs(scaled) >= 100 ? Math.round(scaled) : Number(scaled.toFixed(1))) + suffix;
        }
      }
      return Number.isInteger(n) ? String(n) : Number(n.toFixed(2)).toString();
    },
    cost(v) {
      if (!isNum(v)) return DASH;
      const n = Number(v);
      if (n === 0) return "$0";
      const a = Math.abs(n);
      if (a >= 1) return "$" + n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      // Cents hide the difference between two models; two significant digits keep it ($0.0042).
      return "$" + Number(n.toPrecision(2)).toLocaleString("en-US", { maximumFractionDigits: 8 });
    },
    ms(v) {
      if (!isNum(v)) return DASH;
      const n = Number(v);
      if (n < 1000) return `${Math.round(n)} ms`;
      if (n < 60000) return `${(n / 1000).toFixed(1)} s`;
      return `${(n / 60000).toFixed(1)} min`;
    },
    pct(v, digits = 2) {
      if (!isNum(v)) return DASH;
      return `${Number(Number(v).toFixed(digits))}%`;
    },
    time(iso) {
      if (!iso) return DASH;
      return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" }).format(new Date(iso));
    },
    utc(iso) {
      if (!iso) return "";
      return new Date(iso).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC");
    },
    /** Label of a time bucket: hours in the browser's zone; days and months are UTC calendar buckets. */
    period(iso, groupBy) {
      const d = new Date(iso);
      if (groupBy === "month") return new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", timeZone: "UTC" }).format(d);
      if (groupBy === "day" || groupBy === "week") return new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" }).format(d);
      return new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(d);
    },
  };

  /** Fill an element with a local time and put the UTC time in its tooltip. */
  function setTime(el, iso) {
    el.textContent = fmt.time(iso);
    el.title = fmt.utc(iso);
    if (el.tagName === "TIME" && iso) el.dateTime = iso;
  }

  /** Create an element; text goes in with textContent, never as HTML. */
  function el(tag, { text = null, cls = null, attrs = null } = {}, children = []) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== null && text !== undefined) node.textContent = String(text);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  /** A table cell named by its column, which the phone layout (.table-cards) shows as the cell's label. */
  function labelledCell(label, options = {}, children = []) {
    return el("td", { ...options, attrs: { ...(options.attrs || {}), "data-label": label } }, children);
  }

  function timeCell(iso) {
    const t = el("time");
    setTime(t, iso);
    return t;
  }

  // ---- URL state --------------------------------------------------------------------------

  const urlState = {
    get(name, fallback = "") {
      const value = new URLSearchParams(window.location.search).get(name);
      return value === null || value === "" ? fallback : value;
    },
    /** Apply changes ({name: value or null}) to the query string; pushes a history entry unless replace. */
    update(changes, { replace = false } = {}) {
      const params = new URLSearchParams(window.location.search);
      for (const [key, value] of Object.entries(changes)) {
        if (value === null || value === undefined || value === "") params.delete(key);
        else params.set(key, value);
      }
      const qs = params.toString();
      const next = window.location.pathname + (qs ? `?${qs}` : "");
      if (next !== window.location.pathname + window.location.search) {
        window.history[replace ? "replaceState" : "pushState"](null, "", next);
      }
    },
  };

  // ---- Time range -------------------------------------------------------------------------

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
  function currentRange(defaultKey = "24h") {
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

  function previousRange(range) {
    const span = range.end - range.start;
    return { start: new Date(range.start - span), end: new Date(range.start) };
  }

  function autoGroupBy(range) {
    const span = range.end - range.start;
    if (span <= 3 * 3600e3) return "minute";
    if (span <= 2 * 86400e3) return "hour";
    if (span <= 92 * 86400e3) return "day";
    return "month";
  }

  const apiDate = (d) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
  // The API's datetime end_date is inclusive, and a window ending on a bucket boundary (a whole hour,
  // midnight) would then reach one instant into the next bucket: the charts grew an empty trailing
  // bucket and the previous period shared its last instant with this one. So the last instant sent is
  // the microsecond before `end` (timestamps are stored to the microsecond): exactly [start, end).
  const lastInstant = (d) => new Date(d.getTime() - 1).toISOString().replace(/Z$/, "999Z");
  const rangeParams = (range) => ({ start_date: apiDate(range.start), end_date: lastInstant(range.end) });

  /** Start (a Date) of the UTC bucket after the one starting at `start`, as the API buckets. */
  function bucketEnd(start, groupBy) {
    if (groupBy === "month") return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
    const step = { minute: 60e3, hour: 3600e3, day: 86400e3, week: 7 * 86400e3 }[groupBy];
    return new Date(start.getTime() + step);
  }

  /**
   * For each bucket start (ISO text), true when the bucket is incomplete: the range covers only part
   * of it, or it is not over yet (a preset's last bucket holds "now").
   */
  function partialBuckets(periods, groupBy, range) {
    const end = Math.min(range.end.getTime(), Date.now());
    return periods.map((iso) => {
      const start = new Date(iso);
      return start < range.start || bucketEnd(start, groupBy).getTime() > end;
    });
  }

  /** The note under a time chart that explains its hatched buckets; hidden when none is partial. */
  function partialNote(node, flags, groupBy) {
    if (!node) return;
    const first = flags.length > 0 && flags[0], last = flags.length > 1 && flags[flags.length - 1];
    node.hidden = !(first || last);
    if (node.hidden) { node.textContent = ""; return; }
    const both = first && last;
    const which = both ? `first and last ${groupBy}s are` : `${first ? "first" : "last"} ${groupBy} is`;
    node.textContent = `Hatched: the ${which} incomplete (partly outside the range, or not over yet); a lower value there is not a drop.`;
  }

  function toLocalInput(date) {
    const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return local.toISOString().slice(0, 16);
  }

  /** Wire the toolbar's range control to the URL; onChange() runs after every change. Returns sync(). */
  function bindRange(defaultKey, onChange) {
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

  // ---- Auto-refresh -----------------------------------------------------------------------

  /**
   * Re-run `run` every intervalMs while the checkbox is on and the tab is visible. `run` is expected
   * to abort its own previous request (see latest()), so a slow answer never piles up behind a new one.
   */
  function autoRefresh(run, { intervalMs = 30000, defaultOn = false } = {}) {
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

  function markUpdated() {
    const node = document.getElementById("last-updated");
    if (!node) return;
    const now = new Date();
    node.textContent = `Updated ${now.toLocaleTimeString()}`;
    node.title = fmt.utc(now.toISOString());
  }

  // ---- States -----------------------------------------------------------------------------

  /** Show a loading/empty/error message in a panel's [data-state] element, or hide it (kind null). */
  function setState(node, kind, message) {
    if (!node) return;
    if (!kind) { node.hidden = true; node.textContent = ""; return; }
    node.hidden = false;
    node.className = `state state-${kind}`;
    node.setAttribute("role", kind === "error" ? "alert" : "status");
    node.textContent = message || (kind === "loading" ? "Loading…" : kind === "empty" ? EMPTY_MESSAGE : "Something went wrong.");
  }

  // ---- Charts -----------------------------------------------------------------------------

  // Okabe–Ito: distinguishable with the common colour-vision deficiencies; errors never rely on red vs green.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
  const DASHES = [[], [6, 4], [2, 3], [8, 3, 2, 3]];
  // Models: the same hues, with olive for the yellow, which is too faint for a line on white.
  const MODEL_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999933", "#000000"];
  const MODEL_POINTS = ["circle", "triangle", "rect", "rectRot"];

  /** FNV-1a: a stable 32-bit hash of a model name, the same on every page, range and visit. */
  function hashName(name) {
    let h = 0x811c9dc5;
    for (const ch of String(name)) h = Math.imul(h ^ ch.codePointAt(0), 0x01000193) >>> 0;
    return h;
  }

  /**
   * A model's colour: from its name, not its rank in the current answer, so it keeps its colour when a
   * range or a filter changes which models appear. Two models may share a colour; their point styles
   * (modelPoint) come from other bits of the hash, so they rarely share both.
   */
  const modelColor = (name) => MODEL_PALETTE[hashName(name) % MODEL_PALETTE.length];
  const modelPoint = (name) => MODEL_POINTS[Math.floor(hashName(name) / MODEL_PALETTE.length) % MODEL_POINTS.length];

  /** A translucent colour for the same model (#rrggbb + alpha). */
  const fade = (hex, alpha) => hex + Math.round(alpha * 255).toString(16).padStart(2, "0");

  let hatchTile = null;

  function hatchPattern(ctx) {
    if (!hatchTile) {
      hatchTile = document.createElement("canvas");
      hatchTile.width = hatchTile.height = 8;
      const t = hatchTile.getContext("2d");
      t.fillStyle = "rgba(255, 255, 255, 0.55)"; // lightens what is underneath
      t.fillRect(0, 0, 8, 8);
      t.strokeStyle = "rgba(71, 85, 105, 0.45)";
      t.lineWidth = 1;
      t.beginPath();
      t.moveTo(0, 8); t.lineTo(8, 0);
      t.moveTo(-2, 2); t.lineTo(2, -2);
      t.moveTo(6, 10); t.lineTo(10, 6);
      t.stroke();
    }
    return ctx.createPattern(hatchTile, "repeat");
  }

  /** [left, right] pixels of category `i`'s slot on the x axis, within the chart area. */
  function slotOf(chart, i) {
    const x = chart.scales.x, area = chart.chartArea, n = chart.data.labels.length;
    const centre = x.getPixelForValue(i);
    const half = n > 1 ? Math.abs(x.getPixelForValue(1) - x.getPixelForValue(0)) / 2 : area.width / 2;
    return [Math.max(area.left, centre - half), Math.min(area.right, centre + half)];
  }

  if (window.Chart) {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#334155";
    // Updates in place without animation: the refreshed figure appears at once, and tests see it drawn.
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    Chart.register({
      id: "obsDrawn",
      afterRender(chart) {
        chart.canvas.dataset.drawn = String(Number(chart.canvas.dataset.drawn || 0) + 1);
        chart.canvas.dataset.points = String(chart.data.datasets.reduce((n, d) => n + (d.data || []).length, 0));
        const flags = chart.$obsPartial || [];
        chart.canvas.dataset.partial = flags.map((on, i) => (on ? i : -1)).filter((i) => i >= 0).join(",");
      },
    });
    // Time buckets only partly inside the range are hatched over, so that a short first or last
    // bucket does not read as a drop (updateChart's `partial`).
    Chart.register({
      id: "obsPartial",
      afterDatasetsDraw(chart) {
        const flags = chart.$obsPartial;
        if (!flags || !flags.some(Boolean) || !chart.scales.x) return;
        const { ctx, chartArea: area } = chart;
        ctx.save();
        ctx.fillStyle = hatchPattern(ctx);
        flags.forEach((on, i) => {
          if (!on || i >= chart.data.labels.length) return;
          const [left, right] = slotOf(chart, i);
          ctx.fillRect(left, area.top, right - left, area.bottom - area.top);
        });
        ctx.restore();
      },
    });
  }

  /** The chart on this canvas, created on first use only. */
  function chart(canvas, config) {
    return Chart.getChart(canvas) || new Chart(canvas, config);
  }

  /**
   * Replace labels and dataset values in place (keeps the chart object, its options and colours).
   * `partial`: one flag per label, true for a time bucket only partly inside the range (hatched).
   */
  function updateChart(instance, labels, datasets, { partial = null } = {}) {
    instance.data.labels = labels;
    datasets.forEach((values, i) => {
      if (!instance.data.datasets[i]) instance.data.datasets[i] = {};
      Object.assign(instance.data.datasets[i], values);
    });
    instance.data.datasets.length = datasets.length;
    instance.$obsPartial = partial;
    instance.update();
  }

  // On a phone the navigation scrolls sideways; keep the current page's link in view.
  const current = document.querySelector("nav [aria-current=page]");
  if (current) current.parentElement.parentElement.parentElement.scrollLeft = current.offsetLeft - 8;

  window.Obs = {
    API_ROOT, EMPTY_MESSAGE, ApiError, api, apiUrl, csrfToken, isAbort, latest, fmt, setTime, el, labelledCell, timeCell, urlState,
    currentRange, previousRange, autoGroupBy, rangeParams, apiDate, bindRange, autoRefresh, markUpdated,
    bucketEnd, partialBuckets, partialNote, setState, PALETTE, DASHES, modelColor, modelPoint, fade, chart, updateChart,
  };
})();
