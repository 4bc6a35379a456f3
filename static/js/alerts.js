/*
 * Alerts page: the rules (/api/alerts/rules/: toggle, edit, delete), a create/edit form that shows
 * the API's validation errors beside the fields, the backtest preview and the test notification,
 * and the triggered alerts (/api/alerts/logs/) with acknowledge.
 */
"use strict";

(function () {
  const O = window.Obs;
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

  const listOf = (data) => (Array.isArray(data) ? data : (data && data.results) || []);
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
      return O.el("span", { text: "not evaluated yet", cls: "badge badge-muted", attrs: { title: "No alert check has run for this rule yet." } });
    }
    const firing = rule.state === "firing";
    const last = `Last checked ${O.fmt.time(rule.last_evaluated_at)} (${O.fmt.utc(rule.last_evaluated_at)})`;
    return O.el("span", { text: firing ? "⚠ firing" : "ok", cls: `badge ${firing ? "badge-error" : "badge-ok"}`, attrs: { title: last } });
  }

  const cell = O.labelledCell;

  function ruleRow(rule) {
    const toggle = O.el("input", { cls: "h-4 w-4", attrs: { type: "checkbox", "aria-label": `Rule ${rule.name} active`, "data-toggle": rule.id } });
    toggle.checked = rule.is_active;
    toggle.addEventListener("change", () => setActive(rule, toggle));
    const edit = O.el("button", { text: "Edit", cls: "btn btn-sm", attrs: { type: "button" } });
    edit.addEventListener("click", () => openEditor(rule));
    const remove = O.el("button", { text: "Delete", cls: "btn btn-sm", attrs: { type: "button" } });
    remove.addEventListener("click", () => deleteRule(rule));
    return O.el("tr", { attrs: { "data-rule-id": rule.id } }, [
      O.el("td", { text: rule.name, cls: "cell-wide font-medium cell-wrap" }),
      cell("Condition", { text: `${METRIC[rule.metric_type] || rule.metric_type} ${COMPARISON[rule.comparison] || rule.comparison} ${withUnit(rule.threshold, rule.metric_type)}` }),
      cell("Window", { text: describeWindow(rule.time_window_minutes) }),
      cell("Model", { text: rule.model_name || "all models", cls: "cell-wrap" }),
      O.el("td", { cls: "cell-lead" }, [stateBadge(rule)]),
      cell("Last value", { text: withUnit(rule.last_value, rule.metric_type) }),
      cell("Active", {}, [toggle]),
      O.el("td", { cls: "space-x-1" }, [edit, remove]),
    ]);
  }

  async function loadRules() {
    try {
      const data = listOf(await O.api("alerts/rules/", { params: { page_size: 500 } }));
      rules = new Map(data.map((r) => [r.id, r]));
      rulesBody.replaceChildren(...data.map(ruleRow));
      O.setState(rulesState, data.length ? null : "empty", "No rules yet. Create one, or run `python manage.py check_alerts --create-defaults`.");
    } catch (err) {
      O.setState(rulesState, "error", `Could not load the rules: ${err.message}`);
    }
  }

  async function setActive(rule, toggle) {
    toggle.disabled = true;
    try {
      const updated = await O.api(`alerts/rules/${rule.id}/`, { method: "PATCH", json: { is_active: toggle.checked } });
      rules.set(rule.id, updated);
    } catch (err) {
      toggle.checked = !toggle.checked;
      O.setState(rulesState, "error", `Could not change “${rule.name}”: ${err.message}`);
    } finally {
      toggle.disabled = false;
    }
  }

  async function deleteRule(rule) {
    if (!window.confirm(`Delete the rule “${rule.name}” and its alert history?`)) return;
    try {
      await O.api(`alerts/rules/${rule.id}/`, { method: "DELETE" });
      if (editing === rule.id) closeEditor();
      await Promise.all([loadRules(), loadTriggered()]);
    } catch (err) {
      O.setState(rulesState, "error", `Could not delete “${rule.name}”: ${err.message}`);
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
        ? await O.api("alerts/rules/", { method: "POST", json: formBody() })
        : await O.api(`alerts/rules/${editing}/`, { method: "PUT", json: formBody() });
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
      const r = await O.api(`alerts/rules/${editing}/preview/`, { params: { days: 7 } });
      const fires = r.would_fire ?? r.fires ?? 0;
      const max = r.max_value == null ? "no data" : Number(Number(r.max_value).toFixed(2));
      say(`Over the last ${r.days ?? 7} days this rule would have fired ${fires} time${fires === 1 ? "" : "s"} `
        + `(${r.breached ?? 0} of ${r.evaluated ?? 0} evaluated windows over the threshold; highest value ${max}). Saved changes only.`);
    } catch (err) {
      say(`Backtest failed: ${err.message}`, "error");
    }
  });

  document.getElementById("test-rule").addEventListener("click", async () => {
    if (editing === null) return;
    say("Sending a test notification…");
    try {
      const r = await O.api(`alerts/rules/${editing}/test/`, { method: "POST" });
      if (r && r.delivered === false) say(`Test notification failed: ${r.notification_error || "unknown error"}`, "error");
      else {
        const to = [...(r.email_recipients || []), r.webhook_url].filter(Boolean).join(", ");
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
    const ruleName = alert.rule_name ?? (rule ? rule.name : `rule ${alert.alert_rule}`);
    const ack = alert.acknowledged
      ? O.el("span", { text: `✓ ${alert.acknowledged_by || ""}`.trim(), cls: "text-slate-600", attrs: { title: fmtAck(alert) } })
      : O.el("button", { text: "Acknowledge", cls: "btn btn-sm", attrs: { type: "button", "data-acknowledge": alert.id } });
    if (!alert.acknowledged) ack.addEventListener("click", () => acknowledge(alert, ack));
    const resolved = alert.resolved_at
      ? O.el("span", { text: "resolved", cls: "badge badge-ok", attrs: { title: `Resolved ${O.fmt.time(alert.resolved_at)} (${O.fmt.utc(alert.resolved_at)})` } })
      : O.el("span", { text: "open", cls: "badge badge-error" });
    const metricType = alert.metric_type || (rule && rule.metric_type);
    const comparison = rule ? `${COMPARISON[rule.comparison] || rule.comparison} ` : "";
    const threshold = alert.threshold == null ? null
      : O.el("span", { text: `threshold ${comparison}${withUnit(alert.threshold, metricType)}`, cls: "block text-xs text-slate-500" });
    // Messages wrap, breaking even a long unbroken word, so they never push into the next columns.
    return O.el("tr", { attrs: { "data-alert-id": alert.id } }, [
      cell("Triggered", {}, [O.timeCell(alert.triggered_at)]),
      cell("Rule", { text: ruleName + (alert.is_reminder ? " (reminder)" : ""), cls: "cell-wrap min-w-[8rem]" }),
      O.el("td", { text: alert.message, cls: "cell-wide min-w-[12rem] cell-wrap", attrs: { "data-message": "" } }),
      cell("Value", { cls: "tabular-nums" }, [O.el("span", { text: withUnit(alert.metric_value, metricType) }), threshold]),
      O.el("td", { cls: "cell-lead" }, [resolved]),
      O.el("td", { cls: "cell-lead" }, [ack]),
    ]);
  }

  function fmtAck(alert) {
    return alert.acknowledged_at ? `Acknowledged ${O.fmt.time(alert.acknowledged_at)} (${O.fmt.utc(alert.acknowledged_at)})` : "Acknowledged";
  }

  async function acknowledge(alert, button) {
    button.disabled = true;
    try {
      await O.api(`alerts/logs/${alert.id}/acknowledge/`, { method: "POST" });
      await loadTriggered();
    } catch (err) {
      button.disabled = false;
      O.setState(triggeredState, "error", `Could not acknowledge: ${err.message}`);
    }
  }

  async function loadTriggered() {
    try {
      const params = { page_size: 100 };
      if (!showAcknowledged.checked) params.acknowledged = "false";
      const data = listOf(await O.api("alerts/logs/", { params }));
      triggeredBody.replaceChildren(...data.map(triggeredRow));
      O.setState(triggeredState, data.length ? null : "empty", "No alerts have fired.");
    } catch (err) {
      O.setState(triggeredState, "error", `Could not load triggered alerts: ${err.message}`);
    }
  }

  showAcknowledged.addEventListener("change", () => {
    O.urlState.update({ acknowledged: showAcknowledged.checked ? null : "false" });
    loadTriggered();
  });
  window.addEventListener("popstate", () => {
    showAcknowledged.checked = O.urlState.get("acknowledged") !== "false";
    loadTriggered();
  });
  showAcknowledged.checked = O.urlState.get("acknowledged") !== "false";

  // The server wrote the last check's time in UTC; show it in the viewer's zone.
  document.querySelectorAll("time[data-local-time]").forEach((node) => O.setTime(node, node.dateTime));

  (async () => {
    await loadRules();
    await loadTriggered();
    document.body.dataset.loaded = "1";
  })();
})();
