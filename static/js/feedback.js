/*
 * Feedback page: satisfaction over time and by model (GET /api/feedback/analytics/) and the latest
 * ratings with their comments, each linked to its call (GET /api/feedback/).
 */
import { PALETTE as P, chart, modelColor, partialBuckets, partialNote, updateChart } from "./lib/charts.js";
import { el, setState, timeCell } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { api, isAbort, latest } from "./lib/http.js";
import { autoGroupBy, bindRange, currentRange, rangeParams } from "./lib/range.js";
import { autoRefresh, markUpdated } from "./lib/refresh.js";

const DEFAULT_RANGE = "30d";
const state = document.getElementById("feedback-state");
const comments = document.getElementById("comments");
const commentsState = comments.closest("section").querySelector("[data-state]");
const nextSignal = latest();
let charts = null;

const CARD_FORMAT = {
  total: fmt.int,
  satisfaction_rate: (v) => fmt.pct(v, 1),
  thumbs_up: fmt.int,
  thumbs_down: fmt.int,
};

function createCharts() {
  const pctAxis = { beginAtZero: true, max: 100, ticks: { callback: (v) => `${v}%` } };
  return {
    overTime: chart(document.getElementById("chart-over-time"), {
      type: "bar",
      data: { labels: [], datasets: [
        { type: "line", label: "Satisfaction %", yAxisID: "pct", borderColor: P[0], backgroundColor: P[0], pointRadius: 2, data: [] },
        { label: "Thumbs up", yAxisID: "count", backgroundColor: P[4], stack: "r", data: [] },
        { label: "Thumbs down", yAxisID: "count", backgroundColor: P[1], stack: "r", data: [] },
      ] },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 6 } },
          pct: { ...pctAxis, position: "left" },
          count: { beginAtZero: true, stacked: true, position: "right", grid: { drawOnChartArea: false }, ticks: { precision: 0 } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    }),
    byModel: chart(document.getElementById("chart-by-model"), {
      type: "bar",
      data: { labels: [], datasets: [{ label: "Satisfaction %", backgroundColor: P[0], data: [] }] },
      options: { indexAxis: "y", scales: { x: pctAxis }, plugins: { legend: { display: false } } },
    }),
  };
}

function renderAnalytics(data, groupBy, range) {
  for (const card of document.querySelectorAll("[data-card]")) {
    const key = card.dataset.card;
    const value = card.querySelector("[data-value]");
    value.textContent = CARD_FORMAT[key](data[key]);
    value.dataset.raw = data[key] == null ? "" : String(data[key]);
  }
  const over = data.over_time;
  const partial = partialBuckets(over.map((r) => r.period), groupBy, range);
  updateChart(charts.overTime, over.map((r) => fmt.period(r.period, groupBy)), [
    { data: over.map((r) => r.satisfaction_rate) },
    { data: over.map((r) => r.thumbs_up) },
    { data: over.map((r) => r.thumbs_down) },
  ], { partial });
  partialNote(document.querySelector("[data-partial-note]"), partial, groupBy);
  const models = data.by_model;
  updateChart(charts.byModel, models.map((r) => r.model), [
    { data: models.map((r) => r.satisfaction_rate), backgroundColor: models.map((r) => modelColor(r.model)) },
  ]);
}

function renderComments(page) {
  // The latest ratings that carry a comment: those are what a reader comes here for.
  const items = page.results.filter((f) => f.comment).slice(0, 20).map((f) => {
    const link = el("a", { text: "view call", cls: "text-blue-700 underline", attrs: { href: `/logs/${encodeURIComponent(f.request_id)}/` } });
    return el("li", { cls: "py-2 text-sm" }, [
      el("div", { cls: "flex flex-wrap items-center gap-2" }, [
        el("span", { text: f.rating === "thumbs_up" ? "↑ Thumbs up" : "↓ Thumbs down", cls: `badge ${f.rating === "thumbs_up" ? "badge-ok" : "badge-error"}` }),
        el("span", { text: f.model, cls: "text-slate-600" }),
        timeCell(f.created_at),
        link,
      ]),
      el("p", { text: f.comment, cls: "mt-1 whitespace-pre-wrap break-words text-slate-800" }),
    ]);
  });
  comments.replaceChildren(...items);
  setState(commentsState, items.length ? null : "empty", "No comments in this time range.");
}

async function load() {
  charts = charts || createCharts();
  const range = currentRange(DEFAULT_RANGE);
  const groupBy = autoGroupBy(range);
  const params = rangeParams(range);
  const signal = nextSignal();
  try {
    const [analytics, latest] = await Promise.all([
      api("feedback/analytics/", { params: { ...params, group_by: groupBy }, signal }),
      api("feedback/", { params: { ...params, page_size: 100 }, signal }),
    ]);
    renderAnalytics(analytics, groupBy, range);
    renderComments(latest);
    setState(state, analytics.total ? null : "empty", "No feedback in this time range. Rate a call from its page in Logs, or post to /api/feedback/.");
    markUpdated();
  } catch (err) {
    if (isAbort(err)) return;
    setState(state, "error", `Could not load feedback: ${err.message}`);
    setState(commentsState, null);
  }
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

const syncRange = bindRange(DEFAULT_RANGE, load);
window.addEventListener("popstate", () => { syncRange(); load(); });
autoRefresh(load, { intervalMs: 30000, defaultOn: false });
load();
