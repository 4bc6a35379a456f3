/*
 * One call (GET /api/logs/<request_id>/): full prompt and response, metadata, its feedback, and
 * thumbs up/down (POST /api/feedback/). Every logged string goes in with textContent.
 */
import { el, setState, timeCell } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { api } from "./lib/http.js";

const root = document.getElementById("detail");
const requestId = root.dataset.requestId;
const state = document.getElementById("detail-state");
const form = document.getElementById("feedback-form");
const feedbackStatus = document.getElementById("feedback-status");

/** A link to the user, session or trace page of `id`; nothing when the call has none. */
function pageLink(kind, id) {
  if (!id) return null;
  return el("a", { text: id, cls: "text-blue-700 underline", attrs: { href: `/${kind}/${encodeURIComponent(id)}/`, [`data-${kind}-link`]: "" } });
}

const FACTS = [
  ["Time", (r) => timeCell(r.timestamp)],
  ["Model", (r) => r.model],
  ["Provider", (r) => r.provider],
  ["Status", (r) => r.status],
  ["Error type", (r) => r.error_type],
  ["HTTP status", (r) => r.http_status],
  ["Prompt tokens", (r) => fmt.int(r.prompt_tokens)],
  ["Cached prompt tokens", (r) => fmt.int(r.cached_prompt_tokens)],
  ["Completion tokens", (r) => fmt.int(r.completion_tokens)],
  ["Total tokens", (r) => fmt.int(r.total_tokens)],
  ["Latency", (r) => fmt.ms(r.latency_ms)],
  ["Time to first token", (r) => (r.time_to_first_token_ms == null ? null : fmt.ms(r.time_to_first_token_ms))],
  ["Cost", (r) => (r.cost_estimate == null ? "unpriced" : fmt.cost(r.cost_estimate))],
  ["Finish reason", (r) => r.finish_reason],
  ["Temperature", (r) => r.temperature],
  ["Max tokens", (r) => r.max_tokens],
  ["User", (r) => pageLink("users", r.user_id)],
  ["Session", (r) => pageLink("sessions", r.session_id)],
  ["Trace", (r) => pageLink("traces", r.trace_id)],
  ["Source", (r) => r.source],
  ["Provider request id", (r) => r.provider_request_id],
];

function renderFacts(r) {
  const dl = document.getElementById("facts");
  const items = [];
  for (const [label, get] of FACTS) {
    const value = get(r);
    if (value === null || value === undefined || value === "") continue;
    items.push(el("dt", { text: label, cls: "text-slate-500" }));
    const dd = el("dd", { cls: "break-all" });
    if (value instanceof Node) dd.append(value); else dd.textContent = String(value);
    items.push(dd);
  }
  dl.replaceChildren(...items);
}

function renderFeedback(items) {
  const list = document.getElementById("feedback-list");
  list.replaceChildren(...items.map((f) => el("li", { cls: "rounded border border-slate-200 p-2" }, [
    el("span", { text: f.rating === "thumbs_up" ? "↑ Thumbs up" : "↓ Thumbs down", cls: "font-medium" }),
    el("span", { text: " · ", cls: "text-slate-400" }),
    timeCell(f.created_at),
    f.comment ? el("p", { text: f.comment, cls: "mt-1 whitespace-pre-wrap break-words text-slate-700" }) : null,
  ])));
  if (!items.length) list.append(el("li", { text: "No feedback yet.", cls: "text-slate-500" }));
}

async function load() {
  try {
    const r = await api(`logs/${encodeURIComponent(requestId)}/`);
    document.getElementById("prompt-text").textContent = r.prompt_text || "(no prompt text stored)";
    document.getElementById("response-text").textContent = r.response_text || "(no response text stored)";
    const errorSection = document.getElementById("error-section");
    errorSection.hidden = !r.error_message;
    document.getElementById("error-text").textContent = r.error_message;
    document.getElementById("metadata-text").textContent = JSON.stringify(r.metadata, null, 2);
    renderFacts(r);
    renderFeedback(r.feedback);
    setState(state, null);
  } catch (err) {
    setState(state, "error", `Could not load this call: ${err.message}`);
  }
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const rating = event.submitter ? event.submitter.value : "thumbs_up";
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  feedbackStatus.className = "text-sm text-slate-600";
  feedbackStatus.textContent = "Saving…";
  try {
    await api("feedback/", { method: "POST", json: { request_id: requestId, rating, comment: form.elements.comment.value } });
    form.elements.comment.value = "";
    feedbackStatus.textContent = "Thanks — feedback saved.";
    await load();
  } catch (err) {
    feedbackStatus.className = "text-sm text-orange-800";
    feedbackStatus.textContent = `Could not save feedback: ${err.message}`;
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
});

load();
