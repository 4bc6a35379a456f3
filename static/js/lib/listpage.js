/*
 * The controls every list page shares (logs, traces, sessions, users), all kept in the URL: the filter
 * form and its reset, column sorting, paging and page size; then the time range, back/forward and the
 * auto-refresh. The page brings its own `load`, which reads the URL and draws the list.
 */

import { bindRange } from "./range.js";
import { autoRefresh } from "./refresh.js";
import * as urlState from "./urlstate.js";

export function bindListControls({ form, filters, table, pageSize, defaultOrdering, defaultRange, load }) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const changes = { page: null };
    for (const name of filters) changes[name] = form.elements[name].value.trim();
    urlState.update(changes);
    load();
  });
  document.getElementById("reset-filters").addEventListener("click", () => {
    const changes = { page: null, ordering: null };
    for (const name of filters) changes[name] = null;
    urlState.update(changes);
    load();
  });
  table.querySelectorAll("[data-sort]").forEach((button) => button.addEventListener("click", () => {
    const field = button.dataset.sort;
    const current = urlState.get("ordering", defaultOrdering);
    const next = current === `-${field}` ? field : `-${field}`;
    urlState.update({ ordering: next === defaultOrdering ? null : next, page: null });
    load();
  }));
  const goTo = (delta) => {
    const page = (Number(urlState.get("page", "1")) || 1) + delta;
    urlState.update({ page: page <= 1 ? null : page });
    load();
  };
  document.getElementById("prev-page").addEventListener("click", () => goTo(-1));
  document.getElementById("next-page").addEventListener("click", () => goTo(1));
  pageSize.addEventListener("change", () => {
    urlState.update({ page_size: pageSize.value === "50" ? null : pageSize.value, page: null });
    load();
  });

  const syncRange = bindRange(defaultRange, () => { urlState.update({ page: null }, { replace: true }); load(); });
  window.addEventListener("popstate", () => { syncRange(); load(); });
  autoRefresh(load, { intervalMs: 30000, defaultOn: false });
  load();
}
