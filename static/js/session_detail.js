/*
 * A session as a conversation replay (GET /api/sessions/<session_id>/): its turns in time order, each
 * with its prompt and response (textContent only: they are logged text, never HTML), model, cost,
 * latency and feedback; the session's figures beside them.
 */
import { el, setState, timeCell } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { api } from "./lib/http.js";

const root = document.getElementById("session");
const sessionId = root.dataset.sessionId;
const state = document.getElementById("session-state");

const link = (href, text) => el("a", { text, cls: "text-blue-700 underline break-all", attrs: { href } });

const FACTS = [
  ["User", (s) => (s.user_id ? link(`/users/${encodeURIComponent(s.user_id)}/`, s.user_id) : null)],
  ["First call", (s) => timeCell(s.first_seen)],
  ["Last call", (s) => timeCell(s.last_seen)],
  ["Calls", (s) => fmt.int(s.calls)],
  ["Traces", (s) => fmt.int(s.traces)],
  ["Tokens", (s) => fmt.int(s.total_tokens)],
  ["Cost", (s) => (s.cost === null ? "unpriced" : fmt.cost(s.cost))],
  ["Errors", (s) => fmt.int(s.errors)],
  ["Feedback", (s) => `↑ ${s.feedback_up} · ↓ ${s.feedback_down}`],
];

function renderFacts(s) {
  const items = [];
  for (const [label, get] of FACTS) {
    const value = get(s);
    if (value === null || value === undefined || value === "") continue;
    const dd = el("dd", { cls: "break-all" });
    if (value instanceof Node) dd.append(value); else dd.textContent = String(value);
    items.push(el("dt", { text: label, cls: "text-slate-500" }), dd);
  }
  document.getElementById("facts").replaceChildren(...items);
}

function feedbackLine(items) {
  if (!items.length) return null;
  return el("ul", { cls: "mt-2 space-y-1 text-sm" }, items.map((f) => el("li", {}, [
    el("span", { text: f.rating === "thumbs_up" ? "↑ Thumbs up" : "↓ Thumbs down", cls: "font-medium" }),
    f.comment ? el("span", { text: ` — ${f.comment}`, cls: "whitespace-pre-wrap break-words text-slate-700" }) : null,
  ])));
}

function turn(t, index) {
  // The turn's time links to the call's own page.
  const timeLink = el("a", { cls: "text-blue-700 underline", attrs: { href: `/logs/${encodeURIComponent(t.request_id)}/` } }, [timeCell(t.timestamp)]);
  const header = el("div", { cls: "mb-2 flex flex-wrap items-center gap-x-3 gap-y-1 text-sm text-slate-600" }, [
    el("span", { text: `#${index + 1}`, cls: "font-semibold text-slate-900" }),
    timeLink,
    el("span", { text: t.model, cls: "font-mono" }),
    el("span", { text: fmt.ms(t.latency_ms), attrs: { "data-turn-latency": "" } }),
    el("span", { text: t.cost_estimate === null ? "unpriced" : fmt.cost(t.cost_estimate), attrs: { "data-turn-cost": "" } }),
    el("span", { text: `${fmt.int(t.total_tokens)} tokens` }),
    t.status === "error" ? el("span", { text: t.error_type || "error", cls: "badge badge-error" }) : null,
    t.trace_id ? link(`/traces/${encodeURIComponent(t.trace_id)}/`, "trace") : null,
  ]);
  const body = [
    el("h3", { text: "Prompt", cls: "text-xs font-medium text-slate-500" }),
    el("pre", { text: t.prompt_text || "(no prompt text stored)", cls: "pre-text", attrs: { "data-prompt": "" } }),
    el("h3", { text: "Response", cls: "mt-2 text-xs font-medium text-slate-500" }),
    el("pre", { text: t.response_text || (t.status === "error" ? "(no response: the call failed)" : "(no response text stored)"), cls: "pre-text", attrs: { "data-response": "" } }),
    t.error_message ? el("pre", { text: t.error_message, cls: "pre-text mt-2 text-orange-800" }) : null,
    feedbackLine(t.feedback),
  ];
  return el("li", { cls: "card", attrs: { "data-request-id": t.request_id } }, [header, ...body]);
}

async function load() {
  try {
    const s = await api(`sessions/${encodeURIComponent(sessionId)}/`);
    renderFacts(s);
    document.getElementById("turns").replaceChildren(...s.turns.map(turn));
    const note = document.getElementById("turns-note");
    note.hidden = !s.calls_truncated;
    note.textContent = s.calls_truncated ? `Showing the first ${fmt.int(s.turns.length)} of ${fmt.int(s.calls)} calls.` : "";
    setState(state, null);
  } catch (err) {
    setState(state, "error", `Could not load this session: ${err.message}`);
  }
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

load();
