"""Fixtures for the browser tests: Playwright for Python driving Debian's /usr/bin/chromium.

llm/tests/conftest.py offers `chromium` and `dash` to every test module. Every page opened through
`dash` records console errors, uncaught exceptions, failed requests, HTTP errors and any request to a
host other than the live test server (which is blocked); `dash.assert_clean()` fails the test on any of
them. Chromium is never downloaded (`playwright install` is not used): without /usr/bin/chromium the
tests are skipped with a reason. bench/bench_dashboard.py launches its browser and logs in with
launch_chromium() and session_for() too.
"""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Not UTC, so the tests see that times are shown in the browser's zone.
BROWSER_TIME_ZONE = "America/New_York"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(settings.BASE_DIR) / "logs" / "screenshots"


def chromium_missing() -> str | None:
    """Why Debian's chromium cannot be launched (not installed), or None when it can."""
    if os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return None
    return f"Debian's chromium is needed at {CHROMIUM} (apt-get install chromium)"


def launch_chromium(playwright):
    """Debian's chromium, headless, from a started sync_playwright(); the caller closes it."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


# Module scope, not session: DJANGO_ALLOW_ASYNC_UNSAFE (set below) must not stay set for the tests
# that run after a browser module.
@pytest.fixture(scope="module")
def chromium():
    if reason := chromium_missing():
        pytest.skip(f"browser tests: {reason}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package (pip install -r requirements.txt)")
    # Playwright's sync API runs an event loop in this thread, which trips Django's guard against ORM
    # calls from async code; the tests' ORM calls are synchronous and safe. Set only while a browser
    # runs: other tests start `manage.py check --deploy`, which rightly rejects the variable.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Dashboard:
    """A logged-in browser context on the live server, recording everything that went wrong."""

    def __init__(self, browser, base_url: str):
        self.browser = browser
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.problems: list[str] = []
        self.foreign_requests: list[str] = []
        self.context = None
        self.page = None

    def open_context(self, *, viewport=DESKTOP, user=None, timezone_id=BROWSER_TIME_ZONE, enforce_csp=False):
        if self.context:
            self.context.close()
        # Playwright's wait_for_function evaluates its predicate with eval(), which the pages'
        # Content-Security-Policy forbids; test_browser_csp.py opens every page with it enforced.
        self.context = self.browser.new_context(
            viewport=viewport,
            base_url=self.base_url,
            locale="en-US",
            timezone_id=timezone_id,
            bypass_csp=not enforce_csp,
        )
        self.context.route("**/*", self._only_our_host)
        if user is not None:
            cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session_for(user), "url": self.base_url}
            self.context.add_cookies([cookie])
        self.page = self.context.new_page()
        self.page.on("console", lambda msg: msg.type == "error" and self.problems.append(f"console: {msg.text}"))
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status} {r.url}"))
        return self.page

    def _only_our_host(self, route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == self.host:
            route.continue_()
        else:
            self.foreign_requests.append(url)
            route.abort()

    def _request_failed(self, request):
        # A request the page aborted on purpose (auto-refresh, navigation) is not a failure.
        if request.failure and "ERR_ABORTED" in request.failure:
            return
        self.problems.append(f"request failed: {request.url} {request.failure}")

    def goto(self, path: str, *, wait_loaded: bool = True):
        """Open a page; wait until its script has drawn every panel (body[data-loaded])."""
        self.page.goto(path)
        if wait_loaded:
            self.wait_loaded()
        return self.page

    def wait_loaded(self, *, after: int = 0):
        self.page.wait_for_function(f"Number(document.body.dataset.loaded || 0) > {after}", timeout=20000)

    def loads(self) -> int:
        return int(self.page.evaluate("Number(document.body.dataset.loaded || 0)"))

    def api(self, path: str):
        """GET an API path from inside the page (same session), for comparing with what is shown."""
        return self.page.evaluate(
            "async (p) => { const r = await fetch(p, {headers: {Accept: 'application/json'}}); return r.json(); }", path
        )

    def screenshot(self, name: str):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        size = self.page.viewport_size
        path = SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self):
        # This module is not assertion-rewritten by pytest, so the messages carry the details.
        assert not self.foreign_requests, f"requests to other hosts: {self.foreign_requests}"
        assert not self.problems, "problems in the browser:\n" + "\n".join(self.problems)

    def close(self):
        if self.context:
            self.context.close()


def session_for(user) -> str:
    """A database session logged in as `user`, as the login view would create it."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


@pytest.fixture
def dash(chromium, live_server):
    board = Dashboard(chromium, live_server.url)
    yield board
    board.close()


def copy_screenshot(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
