/*
 * One end user (GET /api/users/<user_id>/) over the toolbar's time range: headline figures, cost and
 * tokens per UTC day (one Chart.js chart, created once and updated in place) and their latest sessions.
 */
import { PALETTE as P, chart, updateChart } from "./lib/charts.js";
import { el, labelledCell, setState, timeCell } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { api, isAbort, latest } from "./lib/http.js";
import { bindRange, currentRange, rangeParams } from "./lib/range.js";
import { autoRefresh, markUpdated } from "./lib/refresh.js";

const DEFAULT_RANGE = "30d";
const root = document.getElementById("end-user");
const userId = root.dataset.userId;
const state = document.getElementById("user-state");
const nextSignal = latest();
let daily = null;

const CARDS = {
  calls: (u) => fmt.int(u.calls),
  total_tokens: (u) => fmt.compact(u.total_tokens),
  cost: (u) => (u.cost === null ? "unpriced" : fmt.cost(u.cost)),
  errors: (u) => fmt.int(u.errors),
  error_rate: (u) => fmt.pct(u.error_rate),
  p95_latency_ms: (u) => fmt.ms(u.p95_latency_ms),
  feedback: (u) => `${u.feedback_up} / ${u.feedback_down}`,
};

function createChart() {
  return chart(document.getElementById("chart-daily"), {
    type: "bar",
    data: { labels: [], datasets: [
      { type: "bar", label: "Tokens", backgroundColor: P[0], yAxisID: "tokens", data: [] },
      { type: "line", label: "Cost (USD)", borderColor: P[1], backgroundColor: P[1], pointRadius: 2, yAxisID: "cost", data: [] },
    ] },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } },
        tokens: { position: "left", beginAtZero: true, ticks: { precision: 0, callback: (v) => fmt.compact(v) } },
        cost: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, ticks: { callback: (v) => fmt.cost(v) } },
      },
      plugins: { legend: { position: "bottom" } },
    },
  });
}

function renderCards(u) {
  for (const card of document.querySelectorAll("[data-card]")) {
    card.querySelector("[data-value]").textContent = CARDS[card.dataset.card](u);
  }
}

function renderFacts(u) {
  const items = [
    ["First call", timeCell(u.first_seen)],
    ["Last call", timeCell(u.last_seen)],
  ].flatMap(([label, node]) => [el("dt", { text: label, cls: "text-slate-500" }), el("dd", {}, [node])]);
  document.getElementById("facts").replaceChildren(...items);
}

function sessionRow(s) {
  const href = `/sessions/${encodeURIComponent(s.session_id)}/`;
  return el("tr", { attrs: { "data-session-id": s.session_id } }, [
    el("td", { cls: "cell-wide" }, [el("a", { text: s.session_id, cls: "text-blue-700 underline break-all", attrs: { href } })]),
    labelledCell("First call", {}, [timeCell(s.first_seen)]),
    labelledCell("Last call", {}, [timeCell(s.last_seen)]),
    labelledCell("Calls", { text: fmt.int(s.calls), cls: "num" }),
    labelledCell("Tokens", { text: fmt.int(s.total_tokens), cls: "num" }),
    labelledCell("Cost", { text: fmt.cost(s.cost), cls: "num" }),
    labelledCell("Errors", { text: fmt.int(s.errors), cls: "num" }),
  ]);
}

async function load() {
  const range = currentRange(DEFAULT_RANGE);
  const params = rangeParams(range);
  const logs = new URLSearchParams({ user_id: userId, start_date: params.start_date, end_date: params.end_date });
  document.getElementById("user-logs").href = `/logs/?${logs}`;
  setState(state, "loading");
  try {
    const u = await api(`users/${encodeURIComponent(userId)}/`, { params, signal: nextSignal() });
    renderCards(u);
    renderFacts(u);
    daily = daily || createChart();
    const labels = u.daily.map((d) => fmt.period(`${d.date}T00:00:00Z`, "day"));
    updateChart(daily, labels, [
      { data: u.daily.map((d) => d.total_tokens) },
      { data: u.daily.map((d) => (d.cost === null ? null : Number(d.cost))) },
    ]);
    document.querySelector("#recent-sessions tbody").replaceChildren(...u.recent_sessions.map(sessionRow));
    setState(document.getElementById("recent-state"), u.recent_sessions.length ? null : "empty", "No sessions in this time range.");
    setState(state, null);
    markUpdated();
  } catch (err) {
    if (isAbort(err)) return;
    const message = err.status === 404 ? "No calls of this user in this time range." : `Could not load this user: ${err.message}`;
    setState(state, err.status === 404 ? "empty" : "error", message);
  }
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

const syncRange = bindRange(DEFAULT_RANGE, load);
window.addEventListener("popstate", () => { syncRange(); load(); });
autoRefresh(load, { intervalMs: 30000, defaultOn: false });
load();
