/*
 * Logs page: the filterable, sortable, paginated table of calls (GET /api/logs/). Every filter, the
 * ordering and the page live in the URL; the export buttons carry the same filters.
 */
import { el, labelledCell, setTime } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { bindListControls, listLoader } from "./lib/listpage.js";
import * as urlState from "./lib/urlstate.js";

const DEFAULT_RANGE = "7d";
const DEFAULT_ORDERING = "-timestamp";
const FILTERS = ["search", "model", "status", "error_type", "user_id", "min_latency_ms"];
const form = document.getElementById("filters");
const table = document.getElementById("logs-table");
const pageSize = document.getElementById("page-size");


function syncControls() {
  for (const name of FILTERS) {
    const input = form.elements[name];
    const value = urlState.get(name);
    input.value = value;
  }
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

function statusBadge(status) {
  return el("span", { text: status, cls: `badge ${status === "error" ? "badge-error" : "badge-ok"}` });
}

/** Text cut to one line at `width` (a max-w-* class), all of it in the tooltip. */
function clipped(text, width) {
  return el("span", { text, cls: `inline-block ${width} truncate align-bottom`, attrs: { title: text || null } });
}

const cell = labelledCell;

/** Links to the call's user, session and trace pages, each only when the call has one. */
function contextLinks(r) {
  const links = [
    r.session_id ? ["session", `/sessions/${encodeURIComponent(r.session_id)}/`, r.session_id] : null,
    r.trace_id ? ["trace", `/traces/${encodeURIComponent(r.trace_id)}/`, r.trace_id] : null,
  ].filter(Boolean);
  return links.map(([kind, href, id]) => el("a", {
    text: kind, cls: "mr-2 text-xs text-blue-700 underline", attrs: { href, title: `${kind} ${id}`, [`data-${kind}-link`]: "" },
  }));
}

function userCell(r) {
  const user = r.user_id
    ? el("a", { cls: "text-blue-700 underline", attrs: { href: `/users/${encodeURIComponent(r.user_id)}/`, "data-user-link": "" } }, [clipped(r.user_id, "max-w-[8rem]")])
    : null;
  const links = contextLinks(r);
  if (!user && !links.length) return el("td");
  return cell("User", {}, [user, links.length ? el("div", {}, links) : null]);
}

/**
 * One call. At 1440 px the row fits: model and user are cut to a width, and the prompt takes what
 * is left (max-w-px + w-full: the column gets the remaining width and truncates in it). On a phone
 * the status and error type lead the card.
 */
function row(r) {
  const link = el("a", { cls: "text-blue-700 underline", attrs: { href: `/logs/${encodeURIComponent(r.request_id)}/` } });
  setTime(link, r.timestamp);
  return el("tr", { attrs: { "data-request-id": r.request_id } }, [
    el("td", { cls: "cell-wide" }, [link]),
    cell("Model", {}, [clipped(r.model, "max-w-[13rem]")]),
    el("td", { cls: "cell-lead" }, [statusBadge(r.status)]),
    el("td", { text: r.error_type, cls: "cell-lead" }),
    cell("Tokens", { text: fmt.int(r.total_tokens), cls: "num" }),
    cell("Latency", { text: fmt.ms(r.latency_ms), cls: "num" }),
    cell("Cost", { text: fmt.cost(r.cost_estimate), cls: "num", attrs: { title: r.cost_estimate === null ? "unpriced model" : null } }),
    userCell(r),
    el("td", { cls: "cell-wide w-full max-w-px" }, [clipped(r.prompt_preview, "max-w-full")]),
  ]);
}

function updateExportLinks(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) query.set(key, value);
  const ordering = urlState.get("ordering");
  if (ordering) query.set("ordering", ordering);
  document.getElementById("export-csv").href = `/api/export/csv/?${query}`;
  document.getElementById("export-json").href = `/api/export/json/?${query}`;
}

const load = listLoader({
  endpoint: "logs/",
  table,
  pageSize,
  filters: FILTERS,
  defaultOrdering: DEFAULT_ORDERING,
  defaultRange: DEFAULT_RANGE,
  row,
  countId: "logs-count",
  noun: "call",
  sync: syncControls,
  onParams: updateExportLinks,
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
