"""A live ciweb-api with the demo tenant and the real Zuul dashboard, and a headless Chromium.

Chromium is Debian's (/usr/bin/chromium; Playwright cannot download its own here). The
dashboard is installed once per machine into ~/.cache/ciweb-tests (see
``tests.functional.console.stack.installed_dashboard``).  Screenshots go to
``test-artifacts/browser/``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.functional.ciweb_process import LISTENING, ciweb_api
from tests.functional.console import stack
from tests.services import missing

CHROMIUM = os.environ.get("CIWEB_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = stack.ROOT / "test-artifacts" / "browser"
TENANT = "example-tenant"
MANIFEST = {
    "tree": [
        {"name": "job-output.txt", "mimetype": "text/plain", "encoding": None,
         "last_modified": 1740819600, "size": 12}
    ],
    "index_links": False,
}  # fmt: skip
# Logged with console.error by PatternFly inside the Zuul bundle whatever the data: not ours.
ACCESSIBILITY_WARNING = re.compile(
    r"requires either an id or aria-label|id is required to make input accessible"
)


@dataclass
class Site:
    """The live server, its store and the demo objects the pages show."""

    url: str
    store: Any
    running_build: str
    facts: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Start ciweb-api once for the browser suite, with demo data and a running build."""
    from ciweb.ci import admin, demo, history, reporting

    static = stack.installed_dashboard()
    tmp = tmp_path_factory.mktemp("browser")
    conf = stack.ciweb_conf(tmp, stack.paste_ini(tmp, static, "poll_interval = 0.1"))
    store = stack.store_for(conf)
    demo.load_demo(store)
    ref = {"project": "example/project1", "ref": "refs/changes/01/1201/1", "change": 1201,
           "patchset": "1", "branch": "master"}  # fmt: skip
    buildset = uuidlib.uuid4().hex
    reporting.create_buildset(store, TENANT, {"uuid": buildset, "pipeline": "check", "refs": [ref]})
    running = uuidlib.uuid4().hex
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
    reporting.create_build(
        store, TENANT, buildset, {"uuid": running, "job_name": "tox-py312", "start_time": started}
    )
    admin.append_console(store, TENANT, running, "console line before the viewer came\n")
    complete = {"complete": ["true"], "limit": ["1"]}
    facts = {
        "build": history.builds(store, TENANT, {**complete, "exclude_result": ["SKIPPED"]})[0],
        "buildset": history.buildsets(store, TENANT, complete)[0],
    }
    try:
        with ciweb_api(conf) as server:
            url = server.wait_for(LISTENING).group(1)
            yield Site(url, store, running, facts)
    finally:
        store.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Launch one headless Chromium for the suite."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing(f"Playwright cannot be imported ({exc})", "pip install -e '.[test]'")
    if not os.path.exists(CHROMIUM):
        missing(f"{CHROMIUM} is missing", "apt-get install -y chromium (tools/install-system-deps)")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class PageProblems:
    """Failed requests, error responses and console errors seen by one page."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.problems: list[str] = []
        self.external: list[str] = []

    def attach(self, page: Any) -> None:
        """Listen to *page*, and answer requests to other origins with 404 (no network)."""
        page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), self._external)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc} {exc.stack}"))

    def _external(self, route: Any) -> None:
        # The demo's log server (logs.example.org) does not exist: stand in for it with a
        # manifest of one text log and an empty job-output.json (no .gz: 404, so the
        # dashboard falls back to the plain file as with a real log server).
        url = route.request.url
        self.external.append(url)
        cors = {"Access-Control-Allow-Origin": "*"}
        if url.endswith("/zuul-manifest.json"):
            route.fulfill(status=200, json=MANIFEST, headers=cors)
        elif url.endswith("/job-output.json"):
            route.fulfill(status=200, json=[], headers=cors)
        else:
            route.fulfill(status=404, body="", headers=cors)

    def _failed(self, request: Any) -> None:
        if request.url.startswith(self.origin):
            self.problems.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.url.startswith(self.origin):
            self.problems.append(f"{response.status} from {response.url}")

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        if ACCESSIBILITY_WARNING.search(message.text):
            return  # PatternFly's own development warnings about the dashboard's markup
        location = (message.location or {}).get("url", "")
        if "Failed to load resource" in message.text and not location.startswith(self.origin):
            return  # one of the external 404s above
        self.problems.append(f"console error: {message.text} ({location})")


@pytest.fixture
def page(browser: Any, site: Site, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Yield a fresh page whose problems are asserted empty, with a screenshot at the end."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    new_page = context.new_page()
    new_page.set_default_timeout(15000)
    problems = PageProblems(site.url)
    problems.attach(new_page)
    new_page.problems = problems
    try:
        yield new_page
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        new_page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        assert problems.problems == [], "\n".join(problems.problems)
    finally:
        context.close()
