/*
 * Analytics page: the API's filters (range, model, status, group_by) drive a per-model table and the
 * time-series charts. Three requests: model usage, latency (per model and over time) and token usage.
 * "Download" saves exactly the figures on screen, built in the browser from the same answers.
 */
import { PALETTE as P, chart, modelColor, modelPoint, partialBuckets, partialNote, updateChart } from "./lib/charts.js";
import { EMPTY_MESSAGE, el, setState } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { api, isAbort, latest } from "./lib/http.js";
import { autoGroupBy, bindRange, currentRange, rangeParams } from "./lib/range.js";
import { autoRefresh, markUpdated } from "./lib/refresh.js";
import * as urlState from "./lib/urlstate.js";

const DEFAULT_RANGE = "7d";
const FILTERS = ["model", "status", "group_by"];
const form = document.getElementById("filters");
const state = document.getElementById("analytics-state");
const nextSignal = latest();
let charts = null;
let shown = null; // the figures on screen, for the downloads

const COLUMNS = [
  ["model", "Model", (v) => v],
  ["calls", "Calls", fmt.int],
  ["share", "Share", (v) => fmt.pct(v, 1)],
  ["total_tokens", "Tokens", fmt.compact],
  ["total_cost", "Cost", fmt.cost],
  ["avg_latency_ms", "Avg", fmt.ms],
  ["p50_latency_ms", "P50", fmt.ms],
  ["p95_latency_ms", "P95", fmt.ms],
  ["p99_latency_ms", "P99", fmt.ms],
  ["avg_time_to_first_token_ms", "TTFT", fmt.ms],
  ["output_tokens_per_second", "Tokens/s", fmt.int],
  ["time_per_output_token_ms", "ms/token", (v) => (v === null || v === undefined ? fmt.DASH : `${Number(Number(v).toFixed(2))} ms`)],
  ["error_rate", "Error rate", (v) => fmt.pct(v)],
];

function createCharts() {
  // Count axes show whole numbers only; money axes keep their fractions.
  const axis = (money) => ({ beginAtZero: true, ticks: money ? { callback: (v) => fmt.cost(v) } : { precision: 0, callback: (v) => fmt.compact(v) } });
  const base = (money = false, stacked = false) => ({
    interaction: { mode: "index", intersect: false },
    scales: { x: { stacked, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 6 } }, y: { ...axis(money), stacked } },
    plugins: { legend: { position: "bottom", labels: { usePointStyle: true } } },
  });
  const c = (id, config) => chart(document.getElementById(`chart-${id}`), config);
  return {
    calls: c("calls", { type: "line", data: { labels: [], datasets: [{ label: "Calls", borderColor: P[0], backgroundColor: P[0], pointRadius: 2, data: [] }] }, options: base() }),
    tokens: c("tokens", {
      type: "bar",
      data: { labels: [], datasets: [
        { label: "Prompt tokens", backgroundColor: P[0], data: [] },
        { label: "Completion tokens", backgroundColor: P[1], data: [] },
      ] },
      options: base(false, true),
    }),
    cost: c("cost", { type: "line", data: { labels: [], datasets: [{ label: "Cost (USD)", borderColor: P[2], backgroundColor: P[2], pointRadius: 2, data: [] }] }, options: base(true) }),
    latency: c("latency", {
      type: "line", data: { labels: [], datasets: [] },
      options: { ...base(), scales: { x: base().scales.x, y: { beginAtZero: true, ticks: { callback: (v) => fmt.ms(v) } } } },
    }),
  };
}

function params(range) {
  const result = rangeParams(range);
  result.model = urlState.get("model");
  result.status = urlState.get("status");
  result.group_by = urlState.get("group_by", autoGroupBy(range));
  return result;
}

function syncControls() {
  for (const name of FILTERS) {
    const input = form.elements[name];
    const value = urlState.get(name);
    if (name === "model") addModelOptions([value]);
    input.value = value;
  }
}

/** Models seen in the answers join the priced ones in the picker (an unpriced model is still a model). */
function addModelOptions(names) {
  const select = form.elements.model;
  for (const name of names) {
    if (name && ![...select.options].some((o) => o.value === name)) select.append(el("option", { text: name, attrs: { value: name } }));
  }
}

function mergeModels(usage, latency) {
  const byModel = new Map(latency.results.map((r) => [r.model, r]));
  return usage.results.map((u) => {
    const l = byModel.get(u.model) || {};
    const { p50_latency_ms, p99_latency_ms, avg_time_to_first_token_ms, output_tokens_per_second, time_per_output_token_ms } = l;
    return { ...u, p50_latency_ms, p99_latency_ms, avg_time_to_first_token_ms, output_tokens_per_second, time_per_output_token_ms };
  });
}

function renderTable(rows) {
  const body = document.querySelector("#model-table tbody");
  body.replaceChildren(...rows.map((r) => el("tr", {}, COLUMNS.map(([key, , format], i) => el("td", { text: format(r[key]), cls: i ? "num" : "" })))));
}

function renderSeries(tokens, latency, groupBy, range) {
  const rows = tokens.results;
  const labels = rows.map((r) => fmt.period(r.period, groupBy));
  const periods = rows.map((r) => r.period);
  const partial = partialBuckets(periods, groupBy, range);
  updateChart(charts.calls, labels, [{ data: rows.map((r) => r.calls) }], { partial });
  updateChart(charts.tokens, labels, [{ data: rows.map((r) => r.prompt_tokens) }, { data: rows.map((r) => r.completion_tokens) }], { partial });
  updateChart(charts.cost, labels, [{ data: rows.map((r) => (r.total_cost == null ? null : Number(r.total_cost))) }], { partial });
  // One line per model over the same buckets as the other charts, in the model's own colour.
  const series = new Map();
  for (const point of latency.timeseries) {
    if (!series.has(point.model)) series.set(point.model, new Map());
    series.get(point.model).set(point.period, point.p95_latency_ms);
  }
  const datasets = [...series.entries()].map(([model, values]) => ({
    label: model, borderColor: modelColor(model), backgroundColor: modelColor(model), pointStyle: modelPoint(model),
    pointRadius: 3, spanGaps: true, data: periods.map((p) => (values.has(p) ? values.get(p) : null)),
  }));
  updateChart(charts.latency, labels, datasets, { partial });
  for (const note of document.querySelectorAll("[data-partial-note]")) partialNote(note, partial, groupBy);
}

async function load() {
  syncControls();
  charts = charts || createCharts();
  const range = currentRange(DEFAULT_RANGE);
  const query = params(range);
  const signal = nextSignal();
  setState(state, "loading");
  try {
    const [usage, latency, tokens] = await Promise.all([
      api("metrics/model-usage/", { params: { ...query, group_by: null }, signal }),
      api("metrics/latency/", { params: query, signal }),
      api("metrics/token-usage/", { params: query, signal }),
    ]);
    const models = mergeModels(usage, latency);
    addModelOptions(models.map((m) => m.model));
    renderTable(models);
    renderSeries(tokens, latency, query.group_by, range);
    shown = { filters: query, models, timeseries: tokens.results, latency_timeseries: latency.timeseries };
    setState(state, models.length ? null : "empty", `No calls match in this time range. ${EMPTY_MESSAGE}`);
    markUpdated();
  } catch (err) {
    if (isAbort(err)) return;
    setState(state, "error", `Could not load analytics: ${err.message}`);
  }
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

function csvCell(value) {
  let text = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@]/.test(text)) text = `'${text}`; // spreadsheet formula injection
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function toCsv(data) {
  const lines = [COLUMNS.map(([key]) => key).join(",")];
  for (const r of data.models) lines.push(COLUMNS.map(([key]) => csvCell(r[key])).join(","));
  lines.push("", "period,calls,prompt_tokens,completion_tokens,total_tokens,total_cost");
  for (const r of data.timeseries) {
    lines.push([r.period, r.calls, r.prompt_tokens, r.completion_tokens, r.total_tokens, r.total_cost].map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

function download(kind) {
  if (!shown) return;
  const text = kind === "csv" ? toCsv(shown) : JSON.stringify(shown, null, 2);
  const blob = new Blob([text], { type: kind === "csv" ? "text/csv" : "application/json" });
  const link = el("a", { attrs: { href: URL.createObjectURL(blob), download: `analytics-${new Date().toISOString().slice(0, 10)}.${kind}` } });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

form.addEventListener("change", () => {
  const changes = {};
  for (const name of FILTERS) changes[name] = form.elements[name].value;
  urlState.update(changes);
  load();
});
form.addEventListener("submit", (event) => event.preventDefault());
document.getElementById("download-csv").addEventListener("click", () => download("csv"));
document.getElementById("download-json").addEventListener("click", () => download("json"));

const syncRange = bindRange(DEFAULT_RANGE, load);
window.addEventListener("popstate", () => { syncRange(); load(); });
autoRefresh(load, { intervalMs: 30000, defaultOn: false });
load();
