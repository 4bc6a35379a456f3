/*
 * Playground: sends a prompt through POST /api/llm/prompt/. With streaming on, the answer arrives as
 * server-sent events (data: {"type":"chunk"|"done"|"error", ...}) read from the fetch body, since
 * EventSource cannot POST. Stop aborts the request; the server then logs the call as cancelled.
 */
import { el, setState } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { ApiError, api, apiUrl, csrfToken, describeFailure, isAbort } from "./lib/http.js";

const form = document.getElementById("prompt-form");
const answer = document.getElementById("answer");
const state = document.getElementById("answer-state");
const facts = document.getElementById("answer-facts");
const logged = document.getElementById("logged-call");
const send = document.getElementById("send");
const stop = document.getElementById("stop");
let controller = null;

function clearErrors() {
  form.querySelectorAll("[data-error]").forEach((p) => { p.hidden = true; p.textContent = ""; });
}

function showFieldErrors(fields) {
  let shown = false;
  for (const [name, message] of Object.entries(fields || {})) {
    const p = form.querySelector(`[data-error="${CSS.escape(name)}"]`);
    if (p) { p.textContent = message; p.hidden = false; shown = true; }
  }
  return shown;
}

function linkTo(requestId) {
  if (!requestId) { logged.hidden = true; return; }
  logged.href = `/logs/${encodeURIComponent(requestId)}/`;
  logged.hidden = false;
}

function showResult(result) {
  const items = [
    ["Tokens", `${fmt.int(result.prompt_tokens)} in / ${fmt.int(result.completion_tokens)} out`],
    ["Latency", fmt.ms(result.latency_ms)],
    ["First token", result.time_to_first_token_ms == null ? null : fmt.ms(result.time_to_first_token_ms)],
    ["Cost", result.cost_estimate == null ? "unpriced" : fmt.cost(result.cost_estimate)],
    ["Finish", result.finish_reason],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  facts.replaceChildren(...items.flatMap(([label, value]) => [
    el("dt", { text: label, cls: "text-slate-500" }), el("dd", { text: value, cls: "tabular-nums" }),
  ]));
  linkTo(result.request_id);
}

function showError(body, fallback) {
  const kind = body && body.error_type ? `${body.error_type}: ` : "";
  const message = (body && body.error) || fallback;
  setState(state, "error", `${kind}${message}`);
  linkTo(body && body.request_id);
}

/** Split an SSE byte stream into parsed `data:` payloads. */
async function* events(response, signal) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
        const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (data) yield JSON.parse(data);
      }
    }
  } finally {
    if (signal.aborted) reader.cancel().catch(() => {});
  }
}

async function streamed(body, signal) {
  const response = await fetch(apiUrl("llm/prompt/"), {
    method: "POST", signal, credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream, application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
  if (!response.ok || !(response.headers.get("Content-Type") || "").includes("text/event-stream")) {
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = null; }
    throw new ApiError(response.status, parsed, describeFailure(response.status, parsed, text));
  }
  setState(state, "loading", "Streaming…");
  for await (const event of events(response, signal)) {
    if (event.type === "chunk") answer.textContent += event.text;
    else if (event.type === "done") { showResult(event); setState(state, null); return; }
    else if (event.type === "error") { showError(event, "The stream failed."); return; }
  }
  setState(state, "error", "The stream ended before the answer was complete.");
}

async function whole(body, signal) {
  const result = await api("llm/prompt/", { method: "POST", json: body, signal, timeoutMs: 300000 });
  answer.textContent = result.response || "";
  showResult(result);
  setState(state, null);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  answer.textContent = "";
  facts.replaceChildren();
  logged.hidden = true;
  const body = {
    prompt: form.elements.prompt.value,
    model: form.elements.model.value,
    temperature: Number(form.elements.temperature.value),
    max_tokens: Number(form.elements.max_tokens.value),
    stream: form.elements.stream.checked,
  };
  if (form.elements.system_prompt.value.trim()) body.system_prompt = form.elements.system_prompt.value;
  controller = new AbortController();
  send.disabled = true;
  stop.disabled = false;
  setState(state, "loading", "Waiting for the model…");
  try {
    await (body.stream ? streamed(body, controller.signal) : whole(body, controller.signal));
  } catch (err) {
    if (isAbort(err)) setState(state, "empty", "Stopped. The partial answer is logged as a cancelled call.");
    else if (err.status === 400 && showFieldErrors(err.fields)) setState(state, "error", "Please correct the highlighted fields.");
    else showError(err.body, err.message);
  } finally {
    send.disabled = false;
    stop.disabled = true;
    controller = null;
  }
});

stop.addEventListener("click", () => { if (controller) controller.abort(); });
document.body.dataset.loaded = "1";
