/*
 * Users page: the calls grouped by end user (GET /api/users/), sortable by cost, calls, errors or last
 * call, paginated; the model filter, ordering, page and time range live in the URL.
 */
import { el, labelledCell, setTime, timeCell } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { bindListControls, listLoader } from "./lib/listpage.js";
import * as urlState from "./lib/urlstate.js";

const DEFAULT_RANGE = "7d";
const DEFAULT_ORDERING = "-last_seen";
const FILTERS = ["model"];
const form = document.getElementById("filters");
const table = document.getElementById("users-table");
const pageSize = document.getElementById("page-size");

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

function row(u) {
  const link = el("a", { cls: "text-blue-700 underline", attrs: { href: userHref(u.user_id) } }, [clipped(u.user_id, "max-w-[13rem]")]);
  const last = el("time");
  setTime(last, u.last_seen);
  return el("tr", { attrs: { "data-user-id": u.user_id } }, [
    el("td", { cls: "cell-wide" }, [link]),
    labelledCell("Calls", { text: fmt.int(u.calls), cls: "num" }),
    labelledCell("Tokens", { text: fmt.int(u.total_tokens), cls: "num" }),
    labelledCell("Cost", { text: fmt.cost(u.cost), cls: "num", attrs: { title: u.cost === null ? "unpriced models only" : null } }),
    labelledCell("Errors", { text: fmt.int(u.errors), cls: "num" }),
    labelledCell("Error rate", { text: fmt.pct(u.error_rate), cls: "num" }),
    labelledCell("P95", { text: fmt.ms(u.p95_latency_ms), cls: "num" }),
    labelledCell("Feedback", { text: `↑${u.feedback_up} ↓${u.feedback_down}`, cls: "num" }),
    labelledCell("First call", {}, [timeCell(u.first_seen)]),
    labelledCell("Last call", {}, [last]),
  ]);
}

const load = listLoader({
  endpoint: "users/",
  table,
  pageSize,
  filters: FILTERS,
  defaultOrdering: DEFAULT_ORDERING,
  defaultRange: DEFAULT_RANGE,
  row,
  countId: "users-count",
  noun: "user",
  emptyNote: " (calls without a user id are not listed)",
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
