/*
 * Traces page: one row per trace (GET /api/traces/), newest or slowest first. Every filter, the
 * ordering and the page live in the URL; a row links to the trace's waterfall.
 */
import { el, labelledCell as cell, setTime } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { bindListControls, listLoader } from "./lib/listpage.js";
import * as urlState from "./lib/urlstate.js";

const DEFAULT_RANGE = "7d";
const DEFAULT_ORDERING = "-start";
const FILTERS = ["user_id", "session_id", "model", "status", "min_duration_ms"];
const form = document.getElementById("filters");
const table = document.getElementById("traces-table");
const pageSize = document.getElementById("page-size");


function syncControls() {
  for (const name of FILTERS) form.elements[name].value = urlState.get(name);
  pageSize.value = urlState.get("page_size", "50");
  const ordering = urlState.get("ordering", DEFAULT_ORDERING);
  for (const button of table.querySelectorAll("[data-sort]")) {
    const field = button.dataset.sort;
    const th = button.closest("th");
    const direction = ordering === field ? "ascending" : ordering === `-${field}` ? "descending" : null;
    if (direction) th.setAttribute("aria-sort", direction); else th.removeAttribute("aria-sort");
    button.textContent = button.textContent.replace(/ [▲▼]$/, "") + (direction ? (direction === "ascending" ? " ▲" : " ▼") : "");
  }
}

function clipped(text, width) {
  return el("span", { text, cls: `inline-block ${width} truncate align-bottom`, attrs: { title: text || null } });
}

function row(t) {
  const href = `/traces/${encodeURIComponent(t.trace_id)}/`;
  const link = el("a", { cls: "text-blue-700 underline", attrs: { href } });
  setTime(link, t.start);
  const errors = t.error_count
    ? el("span", { text: fmt.int(t.error_count), cls: "badge badge-error" })
    : el("span", { text: "0", cls: "text-slate-500" });
  return el("tr", { attrs: { "data-trace-id": t.trace_id } }, [
    el("td", { cls: "cell-wide" }, [link]),
    el("td", { cls: "cell-wide w-full max-w-px" }, [
      el("a", { attrs: { href }, cls: "block truncate", text: t.name || t.trace_id }),
    ]),
    cell("Duration", { text: fmt.ms(t.duration_ms), cls: "num" }),
    cell("Spans", { text: fmt.int(t.span_count), cls: "num" }),
    cell("LLM calls", { text: fmt.int(t.llm_calls), cls: "num" }),
    cell("Tokens", { text: fmt.int(t.total_tokens), cls: "num" }),
    cell("Cost", { text: fmt.cost(t.cost), cls: "num", attrs: { title: t.cost === null ? "no priced call" : null } }),
    cell("Errors", { cls: "num cell-lead" }, [errors]),
    t.user_id ? cell("User", {}, [clipped(t.user_id, "max-w-[8rem]")]) : el("td"),
    t.session_id ? cell("Session", {}, [clipped(t.session_id, "max-w-[8rem]")]) : el("td"),
  ]);
}


const load = listLoader({
  endpoint: "traces/",
  table,
  pageSize,
  filters: FILTERS,
  defaultOrdering: DEFAULT_ORDERING,
  defaultRange: DEFAULT_RANGE,
  row,
  countId: "traces-count",
  noun: "trace",
  markInexact: true,
  sync: syncControls,
});

bindListControls({
  form,
  filters: FILTERS,
  table,
  pageSize,
  defaultOrdering: DEFAULT_ORDERING,
  defaultRange: DEFAULT_RANGE,
  load,
});
