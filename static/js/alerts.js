/*
 * Alerts page: the rules (/api/alerts/rules/: toggle, edit, delete), a create/edit form that shows
 * the API's validation errors beside the fields, the backtest preview and the test notification,
 * and the triggered alerts (/api/alerts/logs/) with acknowledge.
 */
import { el, labelledCell, setState, setTime, timeCell } from "./lib/dom.js";
import * as fmt from "./lib/format.js";
import { api } from "./lib/http.js";
import * as urlState from "./lib/urlstate.js";

const editor = document.getElementById("rule-editor");
const form = document.getElementById("rule-form");
const status = document.getElementById("rule-status");
const rulesBody = document.querySelector("#rules-table tbody");
const rulesState = document.getElementById("rules-state");
const triggeredBody = document.querySelector("#triggered-table tbody");
const triggeredState = document.getElementById("triggered-state");
const showAcknowledged = document.getElementById("show-acknowledged");
const COMPARISON = { gt: ">", gte: "≥", lt: "<", lte: "≤" };
const UNIT = { error_rate: "%", latency: " ms", token_spike: "×" };
const METRIC = { error_rate: "Error rate", latency: "P95 latency", token_spike: "Token spike" };
const NUMBER_FIELDS = ["threshold", "time_window_minutes", "min_requests", "cooldown_minutes"];
const BOOL_FIELDS = ["notify_email", "is_active"];
let rules = new Map();
let editing = null; // id of the rule in the form, null for a new one

const say = (text, kind = "info") => {
  status.className = `text-sm sm:col-span-2 lg:col-span-4 ${kind === "error" ? "text-orange-800" : "text-slate-700"}`;
  status.textContent = text;
};

function describeWindow(minutes) {
  if (minutes % 1440 === 0) return `${minutes / 1440} d`;
  if (minutes % 60 === 0) return `${minutes / 60} h`;
  return `${minutes} min`;
}

/** A metric value with its unit: "7.5%", "5,200 ms", "3.1×". */
function withUnit(value, metricType) {
  if (value === null || value === undefined) return "—";
  return `${Number(Number(value).toFixed(2)).toLocaleString("en-US")}${UNIT[metricType] || ""}`;
}

function stateBadge(rule) {
  // A rule no check has looked at yet is not "ok": nothing is known about it.
  if (!rule.last_evaluated_at) {
    return el("span", { text: "not evaluated yet", cls: "badge badge-muted", attrs: { title: "No alert check has run for this rule yet." } });
  }
  const firing = rule.state === "firing";
  const last = `Last checked ${fmt.time(rule.last_evaluated_at)} (${fmt.utc(rule.last_evaluated_at)})`;
  return el("span", { text: firing ? "⚠ firing" : "ok", cls: `badge ${firing ? "badge-error" : "badge-ok"}`, attrs: { title: last } });
}

const cell = labelledCell;

function ruleRow(rule) {
  const toggle = el("input", { cls: "h-4 w-4", attrs: { type: "checkbox", "aria-label": `Rule ${rule.name} active`, "data-toggle": rule.id } });
  toggle.checked = rule.is_active;
  toggle.addEventListener("change", () => setActive(rule, toggle));
  const edit = el("button", { text: "Edit", cls: "btn btn-sm", attrs: { type: "button" } });
  edit.addEventListener("click", () => openEditor(rule));
  const remove = el("button", { text: "Delete", cls: "btn btn-sm", attrs: { type: "button" } });
  remove.addEventListener("click", () => deleteRule(rule));
  return el("tr", { attrs: { "data-rule-id": rule.id } }, [
    el("td", { text: rule.name, cls: "cell-wide font-medium cell-wrap" }),
    cell("Condition", { text: `${METRIC[rule.metric_type] || rule.metric_type} ${COMPARISON[rule.comparison] || rule.comparison} ${withUnit(rule.threshold, rule.metric_type)}` }),
    cell("Window", { text: describeWindow(rule.time_window_minutes) }),
    cell("Model", { text: rule.model_name || "all models", cls: "cell-wrap" }),
    el("td", { cls: "cell-lead" }, [stateBadge(rule)]),
    cell("Last value", { text: withUnit(rule.last_value, rule.metric_type) }),
    cell("Active", {}, [toggle]),
    el("td", { cls: "space-x-1" }, [edit, remove]),
  ]);
}

async function loadRules() {
  try {
    const data = (await api("alerts/rules/", { params: { page_size: 500 } })).results;
    rules = new Map(data.map((r) => [r.id, r]));
    rulesBody.replaceChildren(...data.map(ruleRow));
    setState(rulesState, data.length ? null : "empty", "No rules yet. Create one, or run `python manage.py check_alerts --create-defaults`.");
  } catch (err) {
    setState(rulesState, "error", `Could not load the rules: ${err.message}`);
  }
}

async function setActive(rule, toggle) {
  toggle.disabled = true;
  try {
    const updated = await api(`alerts/rules/${rule.id}/`, { method: "PATCH", json: { is_active: toggle.checked } });
    rules.set(rule.id, updated);
  } catch (err) {
    toggle.checked = !toggle.checked;
    setState(rulesState, "error", `Could not change “${rule.name}”: ${err.message}`);
  } finally {
    toggle.disabled = false;
  }
}

async function deleteRule(rule) {
  if (!window.confirm(`Delete the rule “${rule.name}” and its alert history?`)) return;
  try {
    await api(`alerts/rules/${rule.id}/`, { method: "DELETE" });
    if (editing === rule.id) closeEditor();
    await Promise.all([loadRules(), loadTriggered()]);
  } catch (err) {
    setState(rulesState, "error", `Could not delete “${rule.name}”: ${err.message}`);
  }
}

function clearErrors() {
  form.querySelectorAll("[data-error]").forEach((p) => { p.hidden = true; p.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((i) => i.removeAttribute("aria-invalid"));
}

function showErrors(fields) {
  let first = null;
  for (const [name, message] of Object.entries(fields)) {
    const box = form.querySelector(`[data-field="${CSS.escape(name)}"]`) || form.querySelector('[data-field="non_field_errors"]');
    const p = box.querySelector("[data-error]");
    p.textContent = box.dataset.field === name ? message : `${name}: ${message}`;
    p.hidden = false;
    const input = box.querySelector("input, select, textarea");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", p.id || (p.id = `err-${name}`));
      first = first || input;
    }
  }
  if (first) first.focus();
}

function openEditor(rule) {
  editing = rule ? rule.id : null;
  clearErrors();
  say("");
  form.reset();
  document.getElementById("h-editor").textContent = rule ? `Edit “${rule.name}”` : "New rule";
  if (rule) {
    for (const input of form.elements) {
      if (!input.name || !(input.name in rule)) continue;
      if (input.type === "checkbox") input.checked = Boolean(rule[input.name]);
      else input.value = rule[input.name] ?? "";
    }
  }
  document.getElementById("preview-rule").disabled = !rule;
  document.getElementById("test-rule").disabled = !rule;
  editor.hidden = false;
  form.elements.name.focus();
}

function closeEditor() {
  editor.hidden = true;
  editing = null;
}

function formBody() {
  const body = {};
  for (const input of form.elements) {
    if (!input.name) continue;
    if (BOOL_FIELDS.includes(input.name)) body[input.name] = input.checked;
    else if (NUMBER_FIELDS.includes(input.name)) body[input.name] = input.value === "" ? null : Number(input.value);
    else body[input.name] = input.value.trim();
  }
  return body;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  say("Saving…");
  try {
    const saved = editing === null
      ? await api("alerts/rules/", { method: "POST", json: formBody() })
      : await api(`alerts/rules/${editing}/`, { method: "PUT", json: formBody() });
    editing = saved.id;
    document.getElementById("h-editor").textContent = `Edit “${saved.name}”`;
    document.getElementById("preview-rule").disabled = false;
    document.getElementById("test-rule").disabled = false;
    say(`Saved “${saved.name}”.`);
    await loadRules();
  } catch (err) {
    if (err.status === 400 && Object.keys(err.fields).length) {
      showErrors(err.fields);
      say("Please correct the highlighted fields.", "error");
    } else {
      say(`Could not save: ${err.message}`, "error");
    }
  }
});

document.getElementById("preview-rule").addEventListener("click", async () => {
  if (editing === null) return;
  say("Backtesting over the last 7 days…");
  try {
    const r = await api(`alerts/rules/${editing}/preview/`, { params: { days: 7 } });
    const max = r.max_value === null ? "no data" : Number(Number(r.max_value).toFixed(2));
    say(`Over the last ${r.days} days this rule would have fired ${r.would_fire} time${r.would_fire === 1 ? "" : "s"} `
      + `(${r.breached} of ${r.evaluated} evaluated windows over the threshold; highest value ${max}). Saved changes only.`);
  } catch (err) {
    say(`Backtest failed: ${err.message}`, "error");
  }
});

document.getElementById("test-rule").addEventListener("click", async () => {
  if (editing === null) return;
  say("Sending a test notification…");
  try {
    const r = await api(`alerts/rules/${editing}/test/`, { method: "POST" });
    if (!r.delivered) say(`Test notification failed: ${r.notification_error || "unknown error"}`, "error");
    else {
      const to = [...r.email_recipients, r.webhook_url].filter(Boolean).join(", ");
      say(`Test notification sent${to ? ` to ${to}` : ""}.`);
    }
  } catch (err) {
    say(`Test notification failed: ${err.message}`, "error");
  }
});

document.getElementById("cancel-rule").addEventListener("click", closeEditor);
document.getElementById("new-rule").addEventListener("click", () => openEditor(null));

function triggeredRow(alert) {
  const rule = rules.get(alert.alert_rule);
  const ack = alert.acknowledged
    ? el("span", { text: `✓ ${alert.acknowledged_by || ""}`.trim(), cls: "text-slate-600", attrs: { title: fmtAck(alert) } })
    : el("button", { text: "Acknowledge", cls: "btn btn-sm", attrs: { type: "button", "data-acknowledge": alert.id } });
  if (!alert.acknowledged) ack.addEventListener("click", () => acknowledge(alert, ack));
  const resolved = alert.resolved_at
    ? el("span", { text: "resolved", cls: "badge badge-ok", attrs: { title: `Resolved ${fmt.time(alert.resolved_at)} (${fmt.utc(alert.resolved_at)})` } })
    : el("span", { text: "open", cls: "badge badge-error" });
  const metricType = alert.metric_type;
  const comparison = rule ? `${COMPARISON[rule.comparison] || rule.comparison} ` : "";
  const threshold = alert.threshold == null ? null
    : el("span", { text: `threshold ${comparison}${withUnit(alert.threshold, metricType)}`, cls: "block text-xs text-slate-500" });
  // Messages wrap, breaking even a long unbroken word, so they never push into the next columns.
  return el("tr", { attrs: { "data-alert-id": alert.id } }, [
    cell("Triggered", {}, [timeCell(alert.triggered_at)]),
    cell("Rule", { text: alert.rule_name + (alert.is_reminder ? " (reminder)" : ""), cls: "cell-wrap min-w-[8rem]" }),
    el("td", { text: alert.message, cls: "cell-wide min-w-[12rem] cell-wrap", attrs: { "data-message": "" } }),
    cell("Value", { cls: "tabular-nums" }, [el("span", { text: withUnit(alert.metric_value, metricType) }), threshold]),
    el("td", { cls: "cell-lead" }, [resolved]),
    el("td", { cls: "cell-lead" }, [ack]),
  ]);
}

function fmtAck(alert) {
  return alert.acknowledged_at ? `Acknowledged ${fmt.time(alert.acknowledged_at)} (${fmt.utc(alert.acknowledged_at)})` : "Acknowledged";
}

async function acknowledge(alert, button) {
  button.disabled = true;
  try {
    await api(`alerts/logs/${alert.id}/acknowledge/`, { method: "POST" });
    await loadTriggered();
  } catch (err) {
    button.disabled = false;
    setState(triggeredState, "error", `Could not acknowledge: ${err.message}`);
  }
}

async function loadTriggered() {
  try {
    const params = { page_size: 100 };
    if (!showAcknowledged.checked) params.acknowledged = "false";
    const data = (await api("alerts/logs/", { params })).results;
    triggeredBody.replaceChildren(...data.map(triggeredRow));
    setState(triggeredState, data.length ? null : "empty", "No alerts have fired.");
  } catch (err) {
    setState(triggeredState, "error", `Could not load triggered alerts: ${err.message}`);
  }
}

showAcknowledged.addEventListener("change", () => {
  urlState.update({ acknowledged: showAcknowledged.checked ? null : "false" });
  loadTriggered();
});
window.addEventListener("popstate", () => {
  showAcknowledged.checked = urlState.get("acknowledged") !== "false";
  loadTriggered();
});
showAcknowledged.checked = urlState.get("acknowledged") !== "false";

// The server wrote the last check's time in UTC; show it in the viewer's zone.
document.querySelectorAll("time[data-local-time]").forEach((node) => setTime(node, node.dateTime));

(async () => {
  await loadRules();
  await loadTriggered();
  document.body.dataset.loaded = "1";
})();
