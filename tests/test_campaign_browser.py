"""The campaign wizard in a real browser (headless Chromium, Playwright) against the embedded runtime and
the API as `kitt up` serves it, with KITT_AUTH_TOKEN set: the six steps, launch, the live log, the rollup.
The campaign runs on a simulated test agent; its items say simulated."""

import re

import pytest
from playwright.async_api import expect

from tests.apiserver import TOKEN, app_for, server_for
from tests.campaignhelpers import test_agent
from tests.test_browser import _shot, browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow


async def test_the_wizard_creates_and_launches_a_campaign_whose_log_and_rollup_appear(
    runtime,
    browser,  # noqa: F811
    request,
    tmp_path,
):
    await test_agent(runtime, "sim-web", speed=0.5)  # slow enough that the page is up before the lines
    server = server_for(app_for(runtime, token=TOKEN))
    await server.start()
    try:
        page = await browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(30_000)
        await page.goto(f"{server.url}/campaigns/new")
        await page.get_by_label("API token").fill(TOKEN)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(f"{server.url}/campaigns/new")

        await page.get_by_role("button", name="Next").click()  # step 1 without a name: refused, kept
        await expect(page.get_by_role("alert")).to_have_text("give the campaign a name")
        await page.get_by_label("Name").fill("web-nightly")
        await page.get_by_label("Description").fill("two models, two engines")
        await page.get_by_role("button", name="Next").click()

        await expect(page.locator(".steps .current")).to_have_text("2 Agent")
        await expect(page.locator("label", has_text="sim-web")).to_contain_text("online")
        await page.get_by_label(re.compile("sim-web")).check()
        await page.get_by_role("button", name="Next").click()

        await expect(page.locator(".steps .current")).to_have_text("3 Engines")
        await expect(page.locator(".steps .done")).to_have_text(["1 Basics", "2 Agent"])  # numbered once
        await expect(page.locator(".steps .todo")).to_have_count(3)
        await page.locator(".steps .done").get_by_role("button", name="1 Basics").click()  # back, kept
        await expect(page.locator(".steps .current")).to_have_text("1 Basics")
        await expect(page.get_by_label("Name")).to_have_value("web-nightly")
        await page.get_by_role("button", name="Next").click()
        await expect(page.get_by_label(re.compile("sim-web"))).to_be_checked()
        await page.get_by_role("button", name="Next").click()
        await expect(page.locator(".steps .current")).to_have_text("3 Engines")
        await _shot(page, "campaign-steps", request)
        await expect(page.locator("label", has_text="vLLM")).to_contain_text("safetensors")
        await page.get_by_label(re.compile("vLLM")).check()
        await page.get_by_label(re.compile(r"llama\.cpp")).check()
        await page.get_by_role("button", name="Next").click()

        await expect(page.locator(".steps .current")).to_have_text("4 Models")
        await page.get_by_label(re.compile("Model paths")).fill("/models/llama-8b\n/models/small-Q4_K_M.gguf")
        await page.get_by_role("button", name="Next").click()

        await expect(page.locator(".steps .current")).to_have_text("5 Settings")
        await page.get_by_label("Retries per item").fill("0")
        await page.get_by_role("button", name="Next").click()

        await expect(page.locator(".steps .current")).to_have_text("6 Review")
        matrix = page.locator("#matrix")
        await expect(matrix).to_contain_text("skipped: vLLM cannot serve a gguf model")
        assert await matrix.locator("td.runs").count() == 3
        await _shot(page, "campaign-review", request)
        await page.get_by_role("button", name="Launch").click()

        await page.wait_for_url(re.compile(r".*/campaigns/[^/]+$"))
        await expect(page.locator("h1")).to_have_text("Campaign web-nightly")
        shown_at_load = await page.locator("#campaign-log span").count()
        await page.evaluate("window.kittSamePage = true")  # gone if the page reloads
        await page.wait_for_function(  # a line arrived live, on this very page
            "n => window.kittSamePage && document.querySelectorAll('#campaign-log span').length > n",
            arg=shown_at_load,
            timeout=60_000,
        )
        await expect(page.locator("#rollup svg.chart").first).to_be_visible(timeout=90_000)
        await expect(page.locator("#campaign-status")).to_have_text("succeeded")
        assert await page.locator("#rollup svg.chart").count() >= 2  # throughput and TTFT p99 (and score)
        assert await page.locator("#items .badge", has_text="simulated").count() == 3
        await expect(page.locator("#skipped")).to_contain_text("vLLM cannot serve a gguf model")
        await _shot(page, "campaign-done", request)

        await page.goto(f"{server.url}/schedules")
        await page.get_by_label("Name").fill("nightly-web")
        await page.get_by_label(re.compile("^Cron")).fill("30 3 * * *")
        await page.get_by_role("button", name="Create schedule").click()
        await expect(page.locator("#schedules")).to_contain_text("nightly-web")
        await page.get_by_role("button", name="Delete nightly-web").click()
        await expect(page.locator("#schedules")).to_have_count(0)
    finally:
        await server.stop()
