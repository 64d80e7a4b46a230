"""Browser journeys against real processes: the sandbox and the app (waitress via run_prod.py)
on loopback ports, a fresh SQLite file per test session, Debian's Chromium through Playwright."""
from __future__ import annotations

import pytest

from config import PROJECT_DIR
from devstack import Stack, start_stack
from fyers_sandbox.testing import SESSION_MORNING
from store import open_store

SCREENSHOTS = PROJECT_DIR / "artifacts" / "screenshots"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 768}}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    # The sandbox's clock in a Wednesday session, whatever this machine's says: the pages
    # show Fyers' quotes as live prices only while NSE is open by Fyers' clock.
    running = start_stack(tmp_path_factory.mktemp("stack"),
                          sandbox_args=("--demo", "--start", SESSION_MORNING),
                          ORDER_FILL_TIMEOUT_S="10")
    yield running
    running.stop()


class PageProblems:
    """Console errors, CSP violations and failed requests seen by one browser context."""

    def __init__(self, context, app_url: str):
        self.items: list[str] = []
        self.app_url = app_url
        context.on("page", self.watch)

    def watch(self, page) -> None:
        page.on("console", self.check_console)
        page.on("pageerror", lambda exc: self.items.append(f"page error: {exc}"))
        page.on("requestfailed", self.check_failed_request)
        page.on("response", self.check_response)

    def check_failed_request(self, request) -> None:
        # ERR_ABORTED is a request the journey itself cancelled by navigating on.
        if request.failure != "net::ERR_ABORTED":
            self.items.append(f"request failed: {request.url} {request.failure}")

    def check_console(self, message) -> None:
        # Chromium also reports HTTP errors here; check_response judges those.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.items.append(f"console: {message.text}")

    def check_response(self, response) -> None:
        # A page may answer 4xx on purpose (a refused login); its assets and fragments may not.
        if (response.status >= 400 and response.url.startswith(self.app_url)
                and response.request.resource_type != "document"):
            self.items.append(f"HTTP {response.status}: {response.url}")


@pytest.fixture(scope="module", params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def session(browser, stack, viewport):
    """One browser context per viewport, shared by a module's journeys in order."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=stack.app_url)
    problems = PageProblems(context, stack.app_url)
    page = context.new_page()
    yield page, problems
    context.close()


@pytest.fixture
def page(session, viewport, request):
    """The shared page; after each journey: a screenshot, and no console errors, CSP
    violations or failed requests."""
    shared, problems = session
    problems.items.clear()
    yield shared
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shared.screenshot(path=str(SCREENSHOTS / f"{request.node.originalname}-{viewport}.png"),
                      full_page=True)
    assert problems.items == []


@pytest.fixture(scope="module")
def app_store(stack):
    """The same SQLite file the app process uses, for seeding what a journey needs."""
    opened = open_store(stack.database_url)
    yield opened
    opened.close()
