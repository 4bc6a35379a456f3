/*
 * Building page content and showing a panel's loading / empty / error state. Logged strings
 * (prompts, responses, user ids, messages) only ever go in with textContent, never as HTML.
 */
import { time, utc } from "./format.js";

export const EMPTY_MESSAGE = "No calls logged yet — send one from the Playground or run `make demo`.";

/** Create an element; text goes in with textContent, never as HTML. */
export function el(tag, { text = null, cls = null, attrs = null } = {}, children = []) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== null && text !== undefined) node.textContent = String(text);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/** A table cell named by its column, which the phone layout (.table-cards) shows as the cell's label. */
export function labelledCell(label, options = {}, children = []) {
  return el("td", { ...options, attrs: { ...(options.attrs || {}), "data-label": label } }, children);
}

/** Fill an element with a local time and put the UTC time in its tooltip. */
export function setTime(node, iso) {
  node.textContent = time(iso);
  node.title = utc(iso);
  if (node.tagName === "TIME" && iso) node.dateTime = iso;
}

export function timeCell(iso) {
  const node = el("time");
  setTime(node, iso);
  return node;
}

/** Show a loading/empty/error message in a panel's [data-state] element, or hide it (kind null). */
export function setState(node, kind, message) {
  if (!node) return;
  if (!kind) { node.hidden = true; node.textContent = ""; return; }
  node.hidden = false;
  node.className = `state state-${kind}`;
  node.setAttribute("role", kind === "error" ? "alert" : "status");
  node.textContent = message || (kind === "loading" ? "Loading…" : kind === "empty" ? EMPTY_MESSAGE : "Something went wrong.");
}
