/*
 * Sessions page: the calls grouped by session (GET /api/sessions/), newest last call first, sortable
 * and paginated; filters, ordering, page and time range live in the URL. Each row opens the replay.
 */
import { el, labelledCell, setTime, timeCell } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { bindListControls, listLoader } from "./lib/listpage.js";
import * as urlState from "./lib/urlstate.js";

const DEFAULT_RANGE = "7d";
const DEFAULT_ORDERING = "-last_seen";
const FILTERS = ["user_id", "model"];
const form = document.getElementById("filters");
const table = document.getElementById("sessions-table");
const pageSize = document.getElementById("page-size");

const sessionHref = (id) => `/sessions/${encodeURIComponent(id)}/`;
const userHref = (id) => `/users/${encodeURIComponent(id)}/`;

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

const clipped = (text, width) => el("span", { text, cls: `inline-block ${width} truncate align-bottom`, attrs: { title: text || null } });

function row(s) {
  const link = el("a", { cls: "text-blue-700 underline", attrs: { href: sessionHref(s.session_id) } }, [clipped(s.session_id, "max-w-[13rem]")]);
  const user = s.user_id ? el("a", { cls: "text-blue-700 underline", attrs: { href: userHref(s.user_id) } }, [clipped(s.user_id, "max-w-[8rem]")]) : null;
  const last = el("time");
  setTime(last, s.last_seen);
  return el("tr", { attrs: { "data-session-id": s.session_id } }, [
    el("td", { cls: "cell-wide" }, [link]),
    labelledCell("User", {}, [user]),
    labelledCell("First call", {}, [timeCell(s.first_seen)]),
    labelledCell("Last call", {}, [last]),
    labelledCell("Calls", { text: fmt.int(s.calls), cls: "num" }),
    labelledCell("Traces", { text: fmt.int(s.traces), cls: "num" }),
    labelledCell("Tokens", { text: fmt.int(s.total_tokens), cls: "num" }),
    labelledCell("Cost", { text: fmt.cost(s.cost), cls: "num", attrs: { title: s.cost === null ? "unpriced models only" : null } }),
    labelledCell("Errors", { text: fmt.int(s.errors), cls: "num" }),
    labelledCell("Feedback", { text: `↑${s.feedback_up} ↓${s.feedback_down}`, cls: "num" }),
  ]);
}

const load = listLoader({
  endpoint: "sessions/",
  table,
  pageSize,
  filters: FILTERS,
  defaultOrdering: DEFAULT_ORDERING,
  defaultRange: DEFAULT_RANGE,
  row,
  countId: "sessions-count",
  noun: "session",
  emptyNote: " (calls without a session id are not listed)",
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
