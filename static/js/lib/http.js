/*
 * Talking to the API: fetch with the CSRF header, a timeout, one error type whose message is ready to
 * show, and abort of the previous request (latest()).
 */

export const API_ROOT = document.body.dataset.apiRoot || "/api/";

export class ApiError extends Error {
  constructor(status, body, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
    this.fields = (body && body.fields) || {};
  }
}

export function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (input) return input.value;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export function apiUrl(path, params) {
  const url = new URL(path.startsWith("/") ? path : API_ROOT + path, window.location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

/** The sentence to show for a failed request; every API error body is {error, fields}. */
export function describeFailure(status, body, text) {
  if (status === 401 || status === 403) return "Your session has expired or lacks permission — log in again.";
  if (body && body.error) {
    const fields = Object.entries(body.fields || {}).map(([name, msg]) => `${name}: ${msg}`);
    return fields.length ? `${body.error} (${fields.join("; ")})` : body.error;
  }
  return `The server answered ${status}${text ? "" : " with no body"}.`;
}

/** Fetch JSON from the API. Throws ApiError (status 0 for network/timeout); aborts propagate as AbortError. */
export async function api(path, { method = "GET", params = null, json = undefined, signal = null, timeoutMs = 30000 } = {}) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; controller.abort(); }, timeoutMs);
  const forward = () => controller.abort();
  if (signal) {
    if (signal.aborted) controller.abort();
    else signal.addEventListener("abort", forward, { once: true });
  }
  const headers = { Accept: "application/json" };
  const init = { method, headers, signal: controller.signal, credentials: "same-origin" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  try {
    const response = await fetch(apiUrl(path, params), init);
    const text = response.status === 204 ? "" : await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
    if (!response.ok) throw new ApiError(response.status, body, describeFailure(response.status, body, text));
    return body;
  } catch (err) {
    if (err.name === "AbortError" && timedOut) throw new ApiError(0, null, `No answer within ${timeoutMs / 1000} s.`);
    if (err instanceof TypeError) throw new ApiError(0, null, "Could not reach the server.");
    throw err;
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener("abort", forward);
  }
}

export function isAbort(err) {
  return err && err.name === "AbortError";
}

/** Returns a function giving a fresh AbortSignal each call and aborting the previous one. */
export function latest() {
  let controller = null;
  return function next() {
    if (controller) controller.abort();
    controller = new AbortController();
    return controller.signal;
  };
}
