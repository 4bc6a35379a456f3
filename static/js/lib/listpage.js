/*
 * What every list page shares (logs, traces, sessions, users), all kept in the URL: loading a page of the
 * list from the API with its loading, empty and error states (`listLoader`), and the controls (`bindListControls`):
 * the filter form and its reset, column sorting, paging and page size, the time range, back/forward and the
 * auto-refresh.
 */

import { EMPTY_MESSAGE, setState } from "./dom.js";
import * as fmt from "./format.js";
import { api, isAbort, latest } from "./http.js";
import { bindRange, currentRange, rangeParams } from "./range.js";
import { autoRefresh, markUpdated } from "./refresh.js";
import * as urlState from "./urlstate.js";

/** The time range and the filters in the URL, as API parameters. */
export function filterParams(defaultRange, filters) {
  const params = rangeParams(currentRange(defaultRange));
  for (const name of filters) params[name] = urlState.get(name);
  return params;
}

/**
 * A `load` for a list page: reads the URL, asks `endpoint` for the page, draws its rows with `row` into the
 * table, and writes the count ("12 traces"; "+" after a capped count when `markInexact`), the paging and the
 * state. `sync()` first sets the page's controls from the URL; `onParams(params)` sees what is asked (the
 * logs page's export links). Each load cancels the one before.
 */
export function listLoader({ endpoint, table, pageSize, filters, defaultOrdering, defaultRange, row, countId, noun, emptyNote = "", markInexact = false, sync = () => {}, onParams = () => {} }) {
  const tbody = table.querySelector("tbody");
  const state = table.closest("section").querySelector("[data-state]");
  const nextSignal = latest();
  return async function load() {
    sync();
    const page = Number(urlState.get("page", "1")) || 1;
    const size = Number(pageSize.value);
    const params = filterParams(defaultRange, filters);
    onParams(params);
    setState(state, "loading");
    try {
      const data = await api(endpoint, {
        params: { ...params, ordering: urlState.get("ordering", defaultOrdering), page, page_size: size },
        signal: nextSignal(),
      });
      tbody.replaceChildren(...data.results.map(row));
      const pages = Math.max(1, Math.ceil(data.count / size));
      const more = markInexact && !data.count_is_exact ? "+" : "";
      document.getElementById(countId).textContent = `${fmt.int(data.count)}${more} ${noun}${data.count === 1 ? "" : "s"}`;
      document.getElementById("page-info").textContent = `Page ${page} of ${fmt.int(pages)}${more}`;
      document.getElementById("prev-page").disabled = !data.previous;
      document.getElementById("next-page").disabled = !data.next;
      const filtered = filters.some((name) => urlState.get(name));
      const empty = filtered ? `No ${noun}s match these filters.` : `No ${noun}s in this time range${emptyNote}. ${EMPTY_MESSAGE}`;
      setState(state, data.count ? null : "empty", empty);
      markUpdated();
    } catch (err) {
      if (isAbort(err)) return;
      tbody.replaceChildren();
      setState(state, "error", `Could not load the ${noun}s: ${err.message}`);
    }
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  };
}

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
