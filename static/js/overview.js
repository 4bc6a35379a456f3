/*
 * Overview page: seven cards with the change vs the previous period, six charts and the latest errors.
 * Six API requests per refresh (overview now and before, token usage for all calls and for errors,
 * model usage, errors); each panel draws as soon as its own answer arrives.
 */
import { DASHES, PALETTE as P, chart, fade, modelColor, partialBuckets, partialNote, updateChart } from "./lib/charts.js";
import { EMPTY_MESSAGE, el, setState, timeCell } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { api, isAbort, latest } from "./lib/http.js";
import { autoGroupBy, bindRange, currentRange, previousRange, rangeParams } from "./lib/range.js";
import { autoRefresh, markUpdated } from "./lib/refresh.js";
import * as urlState from "./lib/urlstate.js";

const DEFAULT_RANGE = "24h";
const nextSignal = latest();
const pageState = document.getElementById("overview-state");
let charts = null;
let loads = 0;

const CARD_FORMAT = {
  total_calls: fmt.compact,
  error_rate: (v) => fmt.pct(v),
  avg_latency_ms: fmt.ms,
  p95_latency_ms: fmt.ms,
  total_tokens: fmt.compact,
  total_cost: fmt.cost,
  unique_users: fmt.compact,
};

const panel = (id) => document.getElementById(`chart-${id}`).closest("section");
const panelState = (section) => section.querySelector("[data-state]");

// A count axis: whole numbers only (no "0.5 calls" between 0 and 1).
const countTicks = { precision: 0, callback: (v) => fmt.compact(v) };

function lineOptions({ stacked = false, money = false } = {}) {
  return {
    interaction: { mode: "index", intersect: false },
    scales: {
      x: { stacked, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 6 } },
      y: { stacked, beginAtZero: true, ticks: money ? { callback: (v) => fmt.cost(v) } : countTicks },
    },
    plugins: {
      legend: { position: "bottom", labels: { usePointStyle: true } },
      tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${money ? fmt.cost(c.parsed.y) : fmt.int(c.parsed.y)}` } },
    },
  };
}

/** Calls on the left axis, errors on their own right axis: a few errors stay visible beside many calls. */
function callsOptions() {
  const options = lineOptions();
  options.scales.y.title = { display: true, text: "Calls" };
  options.scales.errors = {
    position: "right", beginAtZero: true, ticks: countTicks, grid: { drawOnChartArea: false },
    title: { display: true, text: "Errors", color: P[5] },
  };
  return options;
}

/** The latency bars take their model's colour (average lighter); the legend explains the two shades. */
function latencyLegend(chart) {
  return chart.data.datasets.map((dataset, i) => ({
    text: dataset.label, datasetIndex: i, hidden: !chart.isDatasetVisible(i), lineWidth: 0,
    fillStyle: i === 0 ? fade("#475569", 0.4) : "#475569",
  }));
}

function createCharts() {
  const c = (id, config) => chart(document.getElementById(`chart-${id}`), config);
  return {
    calls: c("calls", {
      type: "line",
      data: { labels: [], datasets: [
        { label: "Calls", borderColor: P[0], backgroundColor: P[0], pointStyle: "circle", pointRadius: 2, data: [] },
        { label: "Errors (right axis)", yAxisID: "errors", borderColor: P[5], backgroundColor: P[5], borderDash: DASHES[1], pointStyle: "triangle", pointRadius: 3, data: [] },
      ] },
      options: callsOptions(),
    }),
    tokens: c("tokens", {
      type: "bar",
      data: { labels: [], datasets: [
        { label: "Prompt tokens", backgroundColor: P[0], data: [] },
        { label: "Completion tokens", backgroundColor: P[1], data: [] },
      ] },
      options: lineOptions({ stacked: true }),
    }),
    cost: c("cost", {
      type: "line",
      data: { labels: [], datasets: [{ label: "Cost (USD)", borderColor: P[2], backgroundColor: P[2], fill: false, pointRadius: 2, data: [] }] },
      options: lineOptions({ money: true }),
    }),
    latency: c("latency", {
      type: "bar",
      data: { labels: [], datasets: [
        { label: "Average", data: [] },
        { label: "P95", data: [] },
      ] },
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true, ticks: { callback: (v) => fmt.ms(v) } } },
        plugins: {
          legend: { position: "bottom", labels: { generateLabels: latencyLegend } },
          tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${fmt.ms(ctx.parsed.x)}` } },
        },
      },
    }),
    models: c("models", {
      type: "doughnut",
      data: { labels: [], datasets: [{ label: "Calls", backgroundColor: [], data: [] }] },
      options: {
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: (ctx) => `${ctx.label}: ${fmt.int(ctx.parsed)} calls` } },
        },
      },
    }),
    errors: c("errors", {
      type: "bar",
      data: { labels: [], datasets: [{ label: "Errors", backgroundColor: P[5], maxBarThickness: 28, data: [] }] },
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { display: false } },
      },
    }),
  };
}

// Below this many calls in the previous period a change says more about chance than about the
// traffic (3 calls then, 60 now reads "+1,900 %"), so every card shows "n/a" instead.
const MIN_PREVIOUS_CALLS = 30;

/** The delta line of a card: {text, title}. Every card follows the same rule; the error rate moves in points (pp). */
function describeChange(key, now, before, range) {
  const word = range.label === "custom range" ? "previous period" : `previous ${range.label.replace(/^last /, "")}`;
  const previousCalls = Number(before.total_calls);
  if (previousCalls < MIN_PREVIOUS_CALLS) {
    return { text: `n/a vs ${word}`, title: `The ${word} had ${fmt.int(previousCalls)} calls; a change is shown from ${MIN_PREVIOUS_CALLS}.` };
  }
  const title = `${word[0].toUpperCase()}${word.slice(1)}: ${CARD_FORMAT[key](before[key])}`;
  if (now[key] == null || before[key] == null) return { text: `n/a vs ${word}`, title };
  const cur = Number(now[key]), prev = Number(before[key]);
  const arrow = (diff) => (diff > 0 ? "▲" : "▼");
  if (key === "error_rate") {
    const diff = cur - prev;
    if (Math.abs(diff) < 0.005) return { text: `no change vs ${word}`, title };
    return { text: `${arrow(diff)} ${Math.abs(diff).toFixed(2)} pp vs ${word}`, title: `${title} (pp: percentage points)` };
  }
  if (prev === 0) return { text: cur === 0 ? `no change vs ${word}` : `n/a vs ${word}`, title };
  const change = ((cur - prev) / prev) * 100;
  if (Math.abs(change) < 0.05) return { text: `no change vs ${word}`, title };
  const size = Math.abs(change) >= 100 ? fmt.int(Math.abs(change)) : Math.abs(change).toFixed(1);
  return { text: `${arrow(change)} ${size}% vs ${word}`, title };
}

function renderCards(now, before, range) {
  for (const card of document.querySelectorAll("[data-card]")) {
    const key = card.dataset.card;
    const value = card.querySelector("[data-value]");
    value.textContent = CARD_FORMAT[key](now[key]);
    value.dataset.raw = now[key] === null || now[key] === undefined ? "" : String(now[key]);
    if (key === "total_cost" && Number(now.unpriced_calls) > 0) {
      value.title = `${fmt.int(now.unpriced_calls)} calls of unpriced models are not included`;
    }
    const delta = card.querySelector("[data-delta]");
    const change = before ? describeChange(key, now, before, range) : { text: "", title: "" };
    delta.textContent = change.text;
    delta.title = change.title;
  }
}

function renderSeries(all, errors, groupBy, range) {
  const rows = all.results;
  const labels = rows.map((r) => fmt.period(r.period, groupBy));
  const partial = partialBuckets(rows.map((r) => r.period), groupBy, range);
  const errorsByPeriod = new Map(errors.results.map((r) => [r.period, r.calls]));
  updateChart(charts.calls, labels, [
    { data: rows.map((r) => r.calls) },
    { data: rows.map((r) => errorsByPeriod.get(r.period) || 0) },
  ], { partial });
  updateChart(charts.tokens, labels, [
    { data: rows.map((r) => r.prompt_tokens) },
    { data: rows.map((r) => r.completion_tokens) },
  ], { partial });
  updateChart(charts.cost, labels, [{ data: rows.map((r) => (r.total_cost === null ? null : Number(r.total_cost))) }], { partial });
  for (const id of ["calls", "tokens", "cost"]) partialNote(panel(id).querySelector("[data-partial-note]"), partial, groupBy);
}

function renderModels(usage) {
  const rows = usage.results;
  const labels = rows.map((r) => r.model);
  const colours = labels.map(modelColor);
  updateChart(charts.latency, labels, [
    { data: rows.map((r) => r.avg_latency_ms), backgroundColor: colours.map((c) => fade(c, 0.4)) },
    { data: rows.map((r) => r.p95_latency_ms), backgroundColor: colours },
  ]);
  updateChart(charts.models, labels, [{ data: rows.map((r) => r.calls), backgroundColor: colours }]);
  const empty = rows.length === 0 ? EMPTY_MESSAGE : null;
  setState(panelState(panel("latency")), empty && "empty", empty);
  setState(panelState(panel("models")), empty && "empty", empty);
}

function renderErrors(data) {
  const types = data.by_type;
  updateChart(charts.errors, types.map((t) => t.error_type), [{ data: types.map((t) => t.count) }]);
  setState(panelState(panel("errors")), types.length ? null : "empty", "No errors in this time range.");
  const section = document.getElementById("recent-errors").closest("section");
  const body = document.querySelector("#recent-errors tbody");
  const rows = data.recent.map((r) => el("tr", {}, [
    el("td", {}, [timeCell(r.timestamp)]),
    el("td", { text: r.model }),
    el("td", {}, [el("a", { text: r.error_type || "unknown", cls: "text-blue-700 underline", attrs: { href: `/logs/${encodeURIComponent(r.request_id)}/` } })]),
    el("td", { text: r.error_message.slice(0, 120), cls: "max-w-xs truncate", attrs: { title: r.error_message } }),
    el("td", { text: fmt.ms(r.latency_ms), cls: "num" }),
  ]));
  body.replaceChildren(...rows);
  setState(panelState(section), rows.length ? null : "empty", "No errors in this time range.");
}

/** Run one request and hand its answer to render; a failure is shown in the state boxes of the panels it feeds. */
function section(promise, render, states) {
  return promise.then(render, (err) => {
    if (isAbort(err)) throw err;
    for (const node of states) setState(node, "error", `Could not load: ${err.message}`);
    throw err;
  });
}

async function load() {
  charts = charts || createCharts();
  const range = currentRange(DEFAULT_RANGE);
  const groupBy = autoGroupBy(range);
  const params = rangeParams(range);
  const signal = nextSignal();
  const get = (path, extra) => api(path, { params: { ...params, ...extra }, signal });
  const seriesStates = ["calls", "tokens", "cost"].map((id) => panelState(panel(id)));
  const errorsSection = document.getElementById("recent-errors").closest("section");
  const before = api("metrics/overview/", { params: rangeParams(previousRange(range)), signal }).catch((err) => {
    if (isAbort(err)) throw err;
    return null; // the cards still show the current figures without the comparison
  });
  const jobs = [
    section(Promise.all([get("metrics/overview/"), before]), ([now, prev]) => {
      renderCards(now, prev, range);
      const empty = Number(now.total_calls) === 0;
      setState(pageState, empty ? "empty" : null, `No calls in the ${range.label}. ${EMPTY_MESSAGE}`);
    }, [pageState]),
    section(Promise.all([get("metrics/token-usage/", { group_by: groupBy }), get("metrics/token-usage/", { group_by: groupBy, status: "error" })]),
      ([all, errs]) => { renderSeries(all, errs, groupBy, range); seriesStates.forEach((node) => setState(node, null)); },
      seriesStates),
    section(get("metrics/model-usage/"), renderModels, ["latency", "models"].map((id) => panelState(panel(id)))),
    section(get("metrics/errors/"), renderErrors, [panelState(panel("errors")), panelState(errorsSection)]),
  ];
  const results = await Promise.allSettled(jobs);
  if (results.some((r) => r.status === "rejected" && isAbort(r.reason))) return;
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length) setState(pageState, "error", `Some figures could not be loaded: ${failed[0].reason.message}`);
  document.getElementById("all-errors-link").href = `/logs/?status=error&${new URLSearchParams(rangeQuery()).toString()}`;
  markUpdated();
  // Tests and the benchmark wait for this: every panel has its answer (or its error) drawn.
  document.body.dataset.query = new URLSearchParams(params).toString();
  if (loads === 0) performance.mark("overview:drawn"); // read by bench/bench_dashboard.py
  document.body.dataset.loaded = String(++loads);
}

function rangeQuery() {
  const q = {};
  for (const key of ["range", "start", "end"]) { const v = urlState.get(key); if (v) q[key] = v; }
  return q;
}

const syncRange = bindRange(DEFAULT_RANGE, load);
window.addEventListener("popstate", () => { syncRange(); load(); });
autoRefresh(load, { intervalMs: 30000, defaultOn: true });
load();
