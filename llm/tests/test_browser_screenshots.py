"""Every page loads clean (no console error, no failed request, no other host) at desktop and phone
size, and leaves a full-page screenshot under logs/screenshots/."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from llm.models import AlertLog, AlertRule
from llm.tests.browser import DESKTOP, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = [
    ("overview", "/"),
    ("analytics", "/analytics/"),
    ("logs", "/logs/"),
    ("log-detail", None),
    ("feedback", "/feedback/"),
    ("alerts", "/alerts/"),
    ("playground", "/playground/"),
]


@pytest.fixture
def world(make_log):
    call_command("generate_sample_data", "--count", "3000", "--days", "30", "--seed", "3", verbosity=0)
    rule = AlertRule.objects.create(name="Error rate above 5%", metric_type="error_rate", threshold=5, state="firing")
    AlertLog.objects.create(
        alert_rule=rule,
        message="Error rate 7.5% > 5% over the last 60 minutes",
        metric_value=7.5,
        threshold=5,
        triggered_at=timezone.now() - timedelta(minutes=20),
    )
    return make_log(
        prompt_text="Summarise our refund policy in two sentences.", response_text="Refunds within 30 days."
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_it_loads_every_page_cleanly_and_saves_screenshots(dash, admin_user, world, viewport):
    dash.open_context(viewport=viewport, user=admin_user)
    for name, path in PAGES:
        page = dash.goto(path or f"/logs/{world.request_id}/")
        # No page is wider than the screen: tables scroll inside their card instead.
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], name
        assert page.locator("[data-banner=alerts]").is_visible(), name
        shot = dash.screenshot(name)
        assert shot.stat().st_size > 10_000
    dash.assert_clean()


def test_it_shows_the_login_page_cleanly(dash):
    for viewport in (DESKTOP, PHONE):
        dash.open_context(viewport=viewport)
        page = dash.goto("/", wait_loaded=False)
        assert page.url == f"{dash.base_url}/login/?next=/"
        dash.screenshot("login")
    dash.assert_clean()
