"""Every page works under its own Content-Security-Policy: scripts load, draw every panel and
report no violation (a blocked script, style or request is a console error the harness records)."""

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = ["/", "/analytics/", "/logs/", "/traces/", "/sessions/", "/users/", "/feedback/", "/alerts/", "/playground/"]
CHART_JS = "/static/vendor/chart.umd.min.js"


def test_it_draws_every_page_with_the_policy_enforced(dash, admin_user, make_log):
    call_command("generate_sample_data", "--count", "500", "--days", "7", "--seed", "5", verbosity=0)
    call = make_log(prompt_text="What is our refund window?", response_text="30 days.")
    page = dash.open_context(user=admin_user, enforce_csp=True)
    violations = []
    page.on("console", lambda msg: "Content Security Policy" in msg.text and violations.append(msg.text))
    for path in PAGES + [f"/logs/{call.request_id}/"]:
        response = page.goto(path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        # A selector wait needs no eval(), which the policy forbids.
        page.wait_for_selector("body[data-loaded]", state="attached", timeout=20000)
        scripts = page.eval_on_selector_all("script", "nodes => nodes.map((n) => [n.type, n.getAttribute('src')])")
        # Page scripts are native modules from our origin; Chart.js stays the vendored classic script.
        assert all(
            src is not None and (src == CHART_JS or (kind == "module" and src.startswith("/static/js/")))
            for kind, src in scripts
        ), scripts
    assert violations == []
    dash.assert_clean()


def test_it_blocks_an_injected_inline_script(dash, admin_user):
    page = dash.open_context(user=admin_user, enforce_csp=True)
    violations = []
    page.on("console", lambda msg: "Content Security Policy" in msg.text and violations.append(msg.text))
    page.goto("/logs/")
    page.wait_for_selector("body[data-loaded]", state="attached", timeout=20000)
    # What stored XSS would try: an inline script element added to the page.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'document.body.dataset.pwned = 1';"
        " document.body.appendChild(s); }"
    )
    assert page.evaluate("() => document.body.dataset.pwned") is None
    assert violations
