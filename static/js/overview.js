/*
 * Overview page: seven cards with the change vs the previous period, six charts and the latest errors.
 * Six API requests per refresh (overview now and before, token usage for all calls and for errors,
 * model usage, errors); each panel draws as soon as its own answer arrives.
 */
"use strict";

(function () {
  const O = window.Obs;
  const DEFAULT_RANGE = "24h";
  const P = O.PALETTE;
  const nextSignal = O.latest();
  const pageState = document.getElementById("overview-state");
  let charts = null;
  let loads = 0;

  const CARD_FORMAT = {
    total_calls: O.fmt.compact,
    error_rate: (v) => O.fmt.pct(v),
    avg_latency_ms: O.fmt.ms,
    p95_latency_ms: O.fmt.ms,
    total_tokens: O.fmt.compact,
    total_cost: O.fmt.cost,
    unique_users: O.fmt.compact,
  };

  const panel = (id) => document.getElementById(`chart-${id}`).closest("section");
  const panelState = (section) => section.querySelector("[data-state]");

  function lineOptions({ stacked = false, money = false } = {}) {
    return {
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { stacked, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 6 } },
        y: {
          stacked, beginAtZero: true,
          ticks: { callback: (v) => (money ? O.fmt.cost(v) : O.fmt.compact(v)) },
        },
      },
      plugins: {
        legend: { position: "bottom", labels: { usePointStyle: true } },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${money ? O.fmt.cost(c.parsed.y) : O.fmt.int(c.parsed.y)}` } },
      },
    };
  }

  function createCharts() {
    const c = (id, config) => O.chart(document.getElementById(`chart-${id}`), config);
    return {
      calls: c("calls", {
        type: "line",
        data: { labels: [], datasets: [
          { label: "Calls", borderColor: P[0], backgroundColor: P[0], pointStyle: "circle", pointRadius: 2, data: [] },
          { label: "Errors", borderColor: P[5], backgroundColor: P[5], borderDash: O.DASHES[1], pointStyle: "triangle", pointRadius: 3, data: [] },
        ] },
        options: lineOptions(),
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
          { label: "Average", backgroundColor: P[4], data: [] },
          { label: "P95", backgroundColor: P[0], data: [] },
        ] },
        options: {
          indexAxis: "y",
          scales: { x: { beginAtZero: true, ticks: { callback: (v) => O.fmt.ms(v) } } },
          plugins: {
            legend: { position: "bottom" },
            tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${O.fmt.ms(ctx.parsed.x)}` } },
          },
        },
      }),
      models: c("models", {
        type: "doughnut",
        data: { labels: [], datasets: [{ label: "Calls", backgroundColor: P, data: [] }] },
        options: {
          plugins: {
            legend: { position: "bottom", labels: { boxWidth: 12 } },
            tooltip: { callbacks: { label: (ctx) => `${ctx.label}: ${O.fmt.int(ctx.parsed)} calls` } },
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

  function describeChange(key, now, before, rangeLabel) {
    if (now === null || now === undefined || before === null || before === undefined) return "";
    const cur = Number(now), prev = Number(before);
    const word = rangeLabel === "custom range" ? "previous period" : `previous ${rangeLabel.replace(/^last /, "")}`;
    if (key === "error_rate") {
      const diff = cur - prev;
      if (Math.abs(diff) < 0.005) return `no change vs ${word}`;
      return `${diff > 0 ? "▲" : "▼"} ${Math.abs(diff).toFixed(2)} pts vs ${word}`;
    }
    if (prev === 0) return cur === 0 ? `no change vs ${word}` : `none in ${word}`;
    const change = ((cur - prev) / prev) * 100;
    if (Math.abs(change) < 0.05) return `no change vs ${word}`;
    return `${change > 0 ? "▲" : "▼"} ${Math.abs(change) >= 100 ? Math.round(Math.abs(change)) : Math.abs(change).toFixed(1)}% vs ${word}`;
  }

  function renderCards(now, before, range) {
    for (const card of document.querySelectorAll("[data-card]")) {
      const key = card.dataset.card;
      const value = card.querySelector("[data-value]");
      value.textContent = CARD_FORMAT[key](now[key]);
      value.dataset.raw = now[key] === null || now[key] === undefined ? "" : String(now[key]);
      if (key === "total_cost" && Number(now.unpriced_calls) > 0) {
        value.title = `${O.fmt.int(now.unpriced_calls)} calls of unpriced models are not included`;
      }
      card.querySelector("[data-delta]").textContent = before ? describeChange(key, now[key], before[key], range.label) : "";
    }
  }

  function renderSeries(all, errors, groupBy) {
    const rows = all.results || [];
    const labels = rows.map((r) => O.fmt.period(r.period, groupBy));
    const errorsByPeriod = new Map((errors.results || []).map((r) => [r.period, r.calls]));
    O.updateChart(charts.calls, labels, [
      { data: rows.map((r) => r.calls) },
      { data: rows.map((r) => errorsByPeriod.get(r.period) || 0) },
    ]);
    O.updateChart(charts.tokens, labels, [
      { data: rows.map((r) => r.prompt_tokens) },
      { data: rows.map((r) => r.completion_tokens) },
    ]);
    O.updateChart(charts.cost, labels, [{ data: rows.map((r) => (r.total_cost === null ? null : Number(r.total_cost))) }]);
  }

  function renderModels(usage) {
    const rows = usage.results || [];
    const labels = rows.map((r) => r.model);
    O.updateChart(charts.latency, labels, [
      { data: rows.map((r) => r.avg_latency_ms) },
      { data: rows.map((r) => r.p95_latency_ms) },
    ]);
    O.updateChart(charts.models, labels, [{ data: rows.map((r) => r.calls) }]);
    const empty = rows.length === 0 ? O.EMPTY_MESSAGE : null;
    O.setState(panelState(panel("latency")), empty && "empty", empty);
    O.setState(panelState(panel("models")), empty && "empty", empty);
  }

  function renderErrors(data) {
    const types = data.by_type || [];
    O.updateChart(charts.errors, types.map((t) => t.error_type || "unknown"), [{ data: types.map((t) => t.count) }]);
    O.setState(panelState(panel("errors")), types.length ? null : "empty", "No errors in this time range.");
    const section = document.getElementById("recent-errors").closest("section");
    const body = document.querySelector("#recent-errors tbody");
    const rows = (data.recent || []).map((r) => O.el("tr", {}, [
      O.el("td", {}, [O.timeCell(r.timestamp)]),
      O.el("td", { text: r.model_name || r.model || "" }),
      O.el("td", {}, [O.el("a", { text: r.error_type || "unknown", cls: "text-blue-700 underline", attrs: { href: `/logs/${encodeURIComponent(r.request_id)}/` } })]),
      O.el("td", { text: (r.error_message || "").slice(0, 120), cls: "max-w-xs truncate", attrs: { title: r.error_message || "" } }),
      O.el("td", { text: O.fmt.ms(r.latency_ms), cls: "num" }),
    ]));
    body.replaceChildren(...rows);
    O.setState(panelState(section), rows.length ? null : "empty", "No errors in this time range.");
  }

  /** Run one request and hand its answer to render; a failure is shown in the state boxes of the panels it feeds. */
  function section(promise, render, states) {
    return promise.then(render, (err) => {
      if (O.isAbort(err)) throw err;
      for (const node of states) O.setState(node, "error", `Could not load: ${err.message}`);
      throw err;
    });
  }

  async function load() {
    charts = charts || createCharts();
    const range = O.currentRange(DEFAULT_RANGE);
    const groupBy = O.autoGroupBy(range);
    const params = O.rangeParams(range);
    const signal = nextSignal();
    const get = (path, extra) => O.api(path, { params: { ...params, ...extra }, signal });
    const seriesStates = ["calls", "tokens", "cost"].map((id) => panelState(panel(id)));
    const errorsSection = document.getElementById("recent-errors").closest("section");
    const before = O.api("metrics/overview/", { params: O.rangeParams(O.previousRange(range)), signal }).catch((err) => {
      if (O.isAbort(err)) throw err;
      return null; // the cards still show the current figures without the comparison
    });
    const jobs = [
      section(Promise.all([get("metrics/overview/"), before]), ([now, prev]) => {
        renderCards(now, prev, range);
        const empty = Number(now.total_calls) === 0;
        O.setState(pageState, empty ? "empty" : null, `No calls in the ${range.label}. ${O.EMPTY_MESSAGE}`);
      }, [pageState]),
      section(Promise.all([get("metrics/token-usage/", { group_by: groupBy }), get("metrics/token-usage/", { group_by: groupBy, status: "error" })]),
        ([all, errs]) => { renderSeries(all, errs, groupBy); seriesStates.forEach((node) => O.setState(node, null)); },
        seriesStates),
      section(get("metrics/model-usage/"), renderModels, ["latency", "models"].map((id) => panelState(panel(id)))),
      section(get("metrics/errors/"), renderErrors, [panelState(panel("errors")), panelState(errorsSection)]),
    ];
    const results = await Promise.allSettled(jobs);
    if (results.some((r) => r.status === "rejected" && O.isAbort(r.reason))) return;
    const failed = results.filter((r) => r.status === "rejected");
    if (failed.length) O.setState(pageState, "error", `Some figures could not be loaded: ${failed[0].reason.message}`);
    document.getElementById("all-errors-link").href = `/logs/?status=error&${new URLSearchParams(rangeQuery()).toString()}`;
    O.markUpdated();
    // Tests and the benchmark wait for this: every panel has its answer (or its error) drawn.
    document.body.dataset.query = new URLSearchParams(params).toString();
    if (loads === 0) performance.mark("overview:drawn"); // read by bench/bench_dashboard.py
    document.body.dataset.loaded = String(++loads);
  }

  function rangeQuery() {
    const q = {};
    for (const key of ["range", "start", "end"]) { const v = O.urlState.get(key); if (v) q[key] = v; }
    return q;
  }

  const syncRange = O.bindRange(DEFAULT_RANGE, load);
  window.addEventListener("popstate", () => { syncRange(); load(); });
  O.autoRefresh(load, { intervalMs: 30000, defaultOn: true });
  load();
})();
