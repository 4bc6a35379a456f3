/*
 * One trace (GET /api/traces/<trace_id>/) as a waterfall: a row per span in tree order, indented by
 * depth, its bar placed on the trace's time axis; failed spans in red. Selecting a span shows its
 * attributes and, for an LLM span, the call's prompt and response (GET /api/logs/<request_id>/).
 * Every logged string goes in with textContent.
 */
import { el, setState, timeCell } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { api, isAbort, latest } from "./lib/http.js";
import * as urlState from "./lib/urlstate.js";

const root = document.getElementById("trace");
const traceId = root.dataset.traceId;
const state = document.getElementById("trace-state");
const list = document.getElementById("waterfall");
const panel = {
  title: document.getElementById("h-span"),
  facts: document.getElementById("span-facts"),
  call: document.getElementById("span-call"),
  callLink: document.getElementById("span-call-link"),
  prompt: document.getElementById("span-prompt"),
  response: document.getElementById("span-response"),
  attributes: document.getElementById("span-attributes"),
};
const nextCallSignal = latest();
const INDENT_REM = 0.75;
const MAX_INDENT = 20; // deeper spans stay readable: the indentation stops growing
let spans = [];
let traceDuration = 0;

function loaded() {
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

function factList(node, facts) {
  node.replaceChildren(...facts.filter(([, v]) => v !== null && v !== undefined && v !== "").flatMap(([label, value]) => [
    el("dt", { text: label, cls: "text-slate-500" }),
    el("dd", { cls: "min-w-0 break-all" }, [value instanceof Node ? value : document.createTextNode(String(value))]),
  ]));
}

function drawFacts(trace) {
  const userLink = (kind, id) => (id ? el("a", { text: id, cls: "text-blue-700 underline", attrs: { href: `/${kind}/${encodeURIComponent(id)}/` } }) : null);
  factList(document.getElementById("trace-facts"), [
    ["Root", trace.name],
    ["Start", timeCell(trace.start)],
    ["Duration", fmt.ms(trace.duration_ms)],
    ["Spans", fmt.int(trace.span_count)],
    ["LLM calls", fmt.int(trace.llm_calls)],
    ["Tokens", fmt.int(trace.total_tokens)],
    ["Cost", trace.cost === null ? "unpriced" : fmt.cost(trace.cost)],
    ["Errors", fmt.int(trace.error_count)],
    ["User", userLink("users", trace.user_id)],
    ["Session", userLink("sessions", trace.session_id)],
  ]);
}

function drawAxis(duration) {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => el("span", { text: fmt.ms(duration * f) }));
  document.getElementById("axis").replaceChildren(...ticks);
}

function barClass(span) {
  if (span.status === "error") return "bg-red-600";
  return span.call ? "bg-blue-600" : "bg-slate-400";
}

function spanRow(span, index) {
  const share = (value) => (traceDuration > 0 ? (value / traceDuration) * 100 : 0);
  const bar = el("span", { cls: `absolute top-0 h-4 rounded ${barClass(span)}`, attrs: { "data-bar": "" } });
  // Positions are data, set through the CSSOM (allowed by the page's CSP, unlike style attributes).
  bar.style.left = `${Math.min(share(span.offset_ms), 100)}%`;
  bar.style.width = `max(2px, ${Math.min(share(span.duration_ms), 100 - Math.min(share(span.offset_ms), 100))}%)`;
  const label = el("span", { cls: `truncate text-xs ${span.status === "error" ? "text-red-700 font-semibold" : ""}`, attrs: { title: span.name } }, [
    document.createTextNode(span.name || "(unnamed)"),
    span.orphan ? el("span", { text: "orphan", cls: "badge badge-muted ml-1", attrs: { title: "Its parent span was never received" } }) : null,
    span.call ? el("span", { text: span.call.model, cls: "ml-1 text-slate-500" }) : null,
  ]);
  label.style.paddingLeft = `${Math.min(span.depth, MAX_INDENT) * INDENT_REM}rem`;
  return el("li", {
    cls: "grid grid-cols-[minmax(0,16rem)_1fr_4.5rem] items-center gap-2 rounded px-1 py-0.5 cursor-pointer hover:bg-slate-50 aria-selected:bg-blue-50",
    attrs: {
      role: "treeitem",
      tabindex: index === 0 ? "0" : "-1",
      "aria-level": String(span.depth + 1),
      "aria-selected": "false",
      "data-index": String(index),
      "data-span-id": span.span_id,
      "data-status": span.status,
    },
  }, [
    label,
    el("span", { cls: "relative h-4 rounded bg-slate-100" }, [bar]),
    el("span", { text: fmt.ms(span.duration_ms), cls: "num text-xs text-slate-600" }),
  ]);
}

async function showCall(call) {
  panel.call.hidden = false;
  panel.callLink.href = `/logs/${encodeURIComponent(call.request_id)}/`;
  panel.prompt.textContent = "Loading…";
  panel.response.textContent = "";
  try {
    const detail = await api(`logs/${encodeURIComponent(call.request_id)}/`, { signal: nextCallSignal() });
    panel.prompt.textContent = detail.prompt_text || "(no text stored)";
    panel.response.textContent = detail.response_text || detail.error_message || "(no text stored)";
  } catch (err) {
    if (isAbort(err)) return;
    panel.prompt.textContent = `Could not load the call: ${err.message}`;
  }
  loaded();
}

function select(index, { focus = false } = {}) {
  const span = spans[index];
  if (!span) return;
  for (const item of list.querySelectorAll("[aria-selected=true]")) { item.setAttribute("aria-selected", "false"); item.tabIndex = -1; }
  const item = list.children[index];
  item.setAttribute("aria-selected", "true");
  item.tabIndex = 0;
  if (focus) item.focus();
  urlState.update({ span: span.span_id }, { replace: true });
  panel.title.textContent = span.name || "(unnamed)";
  const call = span.call;
  factList(panel.facts, [
    ["Kind", span.kind],
    ["Status", span.status_message ? `${span.status}: ${span.status_message}` : span.status],
    ["Service", span.service_name],
    ["Start", timeCell(span.start)],
    ["Offset", fmt.ms(span.offset_ms)],
    ["Duration", fmt.ms(span.duration_ms)],
    ["Span id", span.span_id],
    ["Parent", span.parent_span_id ? `${span.parent_span_id}${span.orphan ? " (never received)" : ""}` : null],
    ["Model", call && call.model],
    ["Tokens", call && `${fmt.int(call.prompt_tokens)} in / ${fmt.int(call.completion_tokens)} out`],
    ["Cost", call && (call.cost_estimate === null ? "unpriced" : fmt.cost(call.cost_estimate))],
    ["Latency", call && fmt.ms(call.latency_ms)],
    ["Time to first token", call && call.time_to_first_token_ms !== null ? fmt.ms(call.time_to_first_token_ms) : null],
    ["Error type", call && call.error_type],
  ]);
  panel.attributes.textContent = Object.keys(span.attributes).length ? JSON.stringify(span.attributes, null, 2) : "(none)";
  if (call) showCall(call);
  else { panel.call.hidden = true; loaded(); }
}

list.addEventListener("click", (event) => {
  const item = event.target.closest("[data-index]");
  if (item) select(Number(item.dataset.index));
});
list.addEventListener("keydown", (event) => {
  const item = event.target.closest("[data-index]");
  if (!item) return;
  const index = Number(item.dataset.index);
  const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: spans.length - 1 };
  if (event.key in moves) {
    event.preventDefault();
    select(Math.max(0, Math.min(spans.length - 1, moves[event.key])), { focus: true });
  } else if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    select(index);
  }
});

async function load() {
  setState(state, "loading");
  try {
    const trace = await api(`traces/${encodeURIComponent(traceId)}/`);
    spans = trace.spans;
    traceDuration = trace.duration_ms;
    drawFacts(trace);
    drawAxis(trace.duration_ms);
    document.getElementById("axis-note").textContent = `${fmt.int(spans.length)} spans over ${fmt.ms(trace.duration_ms)}`;
    list.replaceChildren(...spans.map(spanRow));
    setState(state, null);
    const wanted = spans.findIndex((s) => s.span_id === urlState.get("span"));
    loaded();
    if (wanted >= 0) select(wanted);
  } catch (err) {
    setState(state, "error", `Could not load the trace: ${err.message}`);
    loaded();
  }
}

load();
