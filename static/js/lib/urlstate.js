/*
 * State kept in the URL's query string (time range, filters, page), so a view is a shareable link
 * and back/forward work.
 */

export function get(name, fallback = "") {
  const value = new URLSearchParams(window.location.search).get(name);
  return value === null || value === "" ? fallback : value;
}

/** Apply changes ({name: value or null}) to the query string; pushes a history entry unless replace. */
export function update(changes, { replace = false } = {}) {
  const params = new URLSearchParams(window.location.search);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === "") params.delete(key);
    else params.set(key, value);
  }
  const qs = params.toString();
  const next = window.location.pathname + (qs ? `?${qs}` : "");
  if (next !== window.location.pathname + window.location.search) {
    window.history[replace ? "replaceState" : "pushState"](null, "", next);
  }
}
