"""The web UI in a real browser: headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright,
against the embedded runtime (real NATS with auth callout, both databases) and the API as `kitt up` serves
it, with KITT_AUTH_TOKEN set. The quick test runs on a test agent, so its run is marked simulated.
Screenshots land in test-artifacts/ (or $KITT_TEST_ARTIFACTS)."""

import itertools
import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

import kitt.api as kitt_api
from kitt.auth import localtoken
from kitt.cli import weblogin
from kitt.storage import fleet
from tests.apiserver import TOKEN, app_for, server_for, test_agent
from tests.test_charts import charts as crowded_charts
from tests.test_invalid_levels import _marked
from tests.test_ui import _three_runs, imported
from tests.waiting import eventually

pytestmark = pytest.mark.slow  # a real Chromium

CHROMIUM = os.environ.get("KITT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("KITT_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts"))


@pytest.fixture
async def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium (see README) or set KITT_CHROMIUM")
    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield launched
        await launched.close()


async def _shot(page: Page, name: str, request) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    callspec = getattr(request.node, "callspec", None)  # a test on both databases names its backend
    backend = callspec.params.get("database_url", "db") if callspec else "db"
    await page.screenshot(path=str(ARTIFACTS / f"{name}-{backend}.png"), full_page=True)


async def test_a_user_logs_in_reads_compares_launches_and_configures(runtime, browser, request):
    base, faster, slower = _three_runs()
    await imported(runtime, base, _marked(faster, ("64", False)), slower)  # one level marked invalid
    await test_agent(runtime, "sim-ui", speed=1.0)  # real-time pace: the page is up before the lines come
    server = server_for(app_for(runtime, token=TOKEN))
    await server.start()
    try:
        page = await browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(30_000)

        await page.goto(f"{server.url}/runs")
        await expect(page).to_have_url(f"{server.url}/login?next=/runs")
        await page.get_by_label("API token").fill(TOKEN)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(f"{server.url}/runs")
        await expect(page.locator("table.grid tbody tr")).to_have_count(3)
        flagged = page.locator("tr", has_text="run-fast").locator(".status.invalid")
        await expect(flagged).to_have_text("1 level invalid")  # not passed off as a clean success
        await page.get_by_label("With invalid levels").check()
        await page.get_by_role("button", name="Filter").click()
        await expect(page.locator("table.grid tbody tr")).to_have_count(1)
        await expect(page.locator("table.grid tbody tr")).to_contain_text("run-fast")
        await _shot(page, "results-invalid-levels", request)
        await page.get_by_label("With invalid levels").uncheck()

        await page.get_by_role("textbox", name="Engine").fill("vllm")
        await page.get_by_role("button", name="Filter").click()
        await expect(page.locator("table.grid tbody tr")).to_have_count(2)
        await _shot(page, "results-filtered", request)

        await page.get_by_role("link", name="run-base").click()
        charts = page.locator("svg.chart")
        await expect(charts.first).to_be_visible()
        assert await charts.count() == 7  # the same charts as `kitt report`
        assert await page.locator("svg.chart polyline.series").count() >= 5  # lines were drawn
        box = await charts.first.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 120
        await _shot(page, "run", request)

        await page.goto(f"{server.url}/runs")
        await page.get_by_label("Compare run-base").check()
        await page.get_by_label("Compare run-slow").check()
        await page.get_by_role("button", name="Compare selected").click()
        await expect(page.locator(".verdict.regression")).to_have_text("regression")
        await expect(page.locator("figure.chart-box").first).to_be_visible()
        await _shot(page, "compare", request)

        await eventually(lambda: _agent_registered(runtime, "sim-ui"), timeout=30)
        await page.goto(f"{server.url}/quicktest")
        await page.locator("#qt-agent").select_option("sim-ui")
        await page.wait_for_load_state()
        await page.locator("#qt-engine-pick").select_option("vllm")
        await page.wait_for_load_state()
        await expect(page.locator("#qt-engine-pick")).to_have_value("vllm")
        await page.get_by_label("…or a model path or name").fill("/models/llama-8b")
        await page.get_by_role("button", name="Launch").click()
        await page.wait_for_url(re.compile(r".*/tests/[^/]+$"))
        shown_at_load = await page.locator("#live-log span").count()
        await expect(page.locator("#test-status")).to_have_text("succeeded", timeout=60_000)
        assert await page.locator("#live-log span").count() > shown_at_load  # lines arrived live
        await expect(page.locator("#live-log")).to_contain_text("simulated vllm")
        await expect(page.get_by_role("link", name="the run")).to_be_visible()
        await _shot(page, "quicktest-live-log", request)
        await page.get_by_role("link", name="the run").click()
        await expect(page.locator("h1 .tag")).to_have_text("simulated")

        await page.goto(f"{server.url}/settings")
        await page.get_by_label("model_dir").fill("/srv/models")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_label("model_dir")).to_have_value("/srv/models")
        await _shot(page, "settings", request)
    finally:
        await server.stop()


async def _agent_registered(rt, name: str) -> bool:
    found = await fleet.agent(rt.engine, name)
    return found is not None and found.status == "registered"


async def test_pages_read_without_javascript(runtime, browser, request):
    """KITT_AUTH_TOKEN unset: the owner logs in with the token from KITT_HOME/api-token, no script needed."""
    await imported(runtime, *_three_runs())
    server = server_for(app_for(runtime))
    await server.start()
    try:
        context = await browser.new_context(java_script_enabled=False)
        page = await context.new_page()
        await page.goto(f"{server.url}/runs/run-fast")
        await expect(page).to_have_url(f"{server.url}/login?next=/runs/run-fast")
        await page.get_by_label("API token").fill(localtoken.read(runtime.settings.home) or "")
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(f"{server.url}/runs/run-fast")
        await expect(page.locator("svg.chart").first).to_be_visible()
        await expect(page.get_by_role("heading", name="Benchmarks")).to_be_visible()
        await page.goto(f"{server.url}/")
        await expect(page.get_by_role("link", name="run-slow")).to_be_visible()
        await _shot(page, "dashboard-no-js", request)
        await context.close()
    finally:
        await server.stop()


async def test_kitt_web_logs_the_browser_in_without_the_token_in_a_url(runtime, browser):
    """What `kitt web` opens with KITT_AUTH_TOKEN unset: a 0600 page in KITT_HOME that posts the owner's
    token; the browser lands on the dashboard, logged in, and no URL it asked for carries the token."""
    await imported(runtime, *_three_runs())
    app = app_for(runtime)
    server = server_for(app)
    await server.start()
    try:
        token = app.state.kitt.local_token
        login_page = weblogin.write(runtime.settings.home, server.url, token)
        assert login_page.stat().st_mode & 0o077 == 0
        context = await browser.new_context()
        page = await context.new_page()
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url))
        await page.goto(login_page.as_uri())
        await expect(page).to_have_url(f"{server.url}/")
        await expect(page.get_by_role("link", name="run-slow")).to_be_visible()
        await page.goto(f"{server.url}/settings")  # a page behind the login, on the session alone
        await expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
        assert asked and not [url for url in asked if token in url]
        await context.close()
    finally:
        await server.stop()


MEASURE = """() => [...document.querySelectorAll('svg.chart')].map(svg => ({
    title: svg.getAttribute('aria-label'),
    width: svg.viewBox.baseVal.width,
    ticks: [...svg.querySelectorAll('text.tick')].map(t => {
        const b = t.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height, t.textContent];
    }),
    legends: [...svg.querySelectorAll('text.legend')].map(t => {
        const b = t.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height, t.textContent];
    }),
}))"""


async def test_crowded_charts_keep_their_labels_apart_in_chromium(browser, request):
    """The charts of tests/test_charts.py (16 levels, five percentiles, long names) as the UI and
    `kitt report` style them: every tick label's real box, measured by Chromium, touches no other, and
    every legend line ends inside its chart."""
    style = (Path(kitt_api.__file__).parent / "static" / "kitt.css").read_text()
    page = await browser.new_page(viewport={"width": 1366, "height": 900})
    body = "".join(str(chart) for chart in crowded_charts())
    await page.set_content(f"<!doctype html><style>{style}</style><div class='charts'>{body}</div>")
    measured = await page.evaluate(MEASURE)
    assert len(measured) >= 6
    for chart in measured:
        assert len(chart["ticks"]) >= 3, chart["title"]
        labels = chart["ticks"] + chart["legends"]
        for a, b in itertools.combinations(labels, 2):
            apart = a[2] <= b[0] + 0.5 or b[2] <= a[0] + 0.5 or a[3] <= b[1] + 0.5 or b[3] <= a[1] + 0.5
            assert apart, f"{a[4]!r} and {b[4]!r} overlap in {chart['title']}: {a[:4]} {b[:4]}"
        for _, _, right, _, text in chart["legends"]:
            assert right <= chart["width"], f"legend {text!r} runs out of {chart['title']}"
    await _shot(page, "crowded-charts", request)
