"""The status page in a real browser (headless Chromium) against ``make run``'s server, seeded
with tasks: what an operator does and sees. Without Chromium the tests are skipped loudly; with
``CI=true`` they fail instead. Screenshots go to the git-ignored ``.artifacts/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import conftest
from tests.browser import StagePrefixProxy, chromium
from tests.conftest import new_task, token
from tests.engines import ROOT, LiveServer, MissingTool

SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
#: dataset → (name, task_index, status, how many)
SEED = {
    "9": [("filter", 1, "failed", 1)],
    "22001": [("generate", 0, "complete", 2), ("generate", 0, "processing", 1), ("filter", 1, "waiting", 3)],
    "22010": [("generate", 0, "queued", 4)],
}


@pytest.fixture(scope="module")
def site(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real server with SEED's tasks, their counts already through the stream."""
    server = LiveServer(backend, tmp_path_factory.mktemp("site"))
    session = server.session()
    server.ids = {}
    try:
        for dataset_id, groups in SEED.items():
            job_index = 0
            for name, task_index, status, count in groups:
                for _ in range(count):
                    body = new_task(dataset_id=dataset_id, name=name, task_index=task_index, job_index=job_index,
                                    job_id=f"{dataset_id}-{job_index}", status=status)
                    answer = session.post(f"{server.url}/tasks", json=body)
                    assert answer.status_code == 201, answer.text
                    server.ids.setdefault((dataset_id, status), []).append(answer.json()["result"])
                    job_index += 1
        total = sum(count for groups in SEED.values() for *_, count in groups)
        wait_until(lambda: sum(session.get(f"{server.url}/task_counts/status").json().values()) == total)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    except MissingTool as missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"a browser is required in CI: {missing}")
        conftest.LOUD_SKIPS.add(f"browser unavailable ({missing}): the status page's browser tests are SKIPPED")
        pytest.skip(f"browser unavailable: {missing}")
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(condition: Callable[[], Any], seconds: float = 30.0) -> Any:
    """``condition()``'s first truthy value, polled; fails the test after ``seconds``."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            value = condition()
        except Exception as error:  # the page may be mid-render (a stale element)
            value, last = None, error
        else:
            last = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {seconds} s (last error: {last!r})")
        time.sleep(0.1)


def open_page(driver: Any, url: str, with_token: str | None = None) -> None:
    """The page as a new visitor sees it (no token kept), then ``with_token`` typed in and
    submitted with the keyboard."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get("about:blank")
    driver.get(url)
    driver.execute_script("sessionStorage.clear()")
    driver.get("about:blank")
    driver.get(url)
    if with_token is not None:
        driver.find_element(By.ID, "token").send_keys(with_token, Keys.ENTER)


def legend(driver: Any, scope: str) -> dict[str, int]:
    """The counts a legend shows, by status, read from its visible text."""
    from selenium.webdriver.common.by import By

    shown = {}
    for item in driver.find_elements(By.CSS_SELECTOR, f"{scope} .legend li[data-status]"):
        status = item.get_attribute("data-status")
        words = item.text.split()
        assert words[0] == status, item.text
        shown[status] = int(words[1].replace(",", ""))
    return shown


def datasets_shown(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.get_attribute("data-dataset") for e in driver.find_elements(By.CSS_SELECTOR, "li.dataset")]


def expected(dataset_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, _, status, count in SEED[dataset_id]:
        counts[status] = counts.get(status, 0) + count
    return counts


def screenshot(driver: Any, name: str) -> None:
    """The whole page, scrolled parts included, for people to look at."""
    import base64

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    (SCREENSHOTS / name).write_bytes(base64.b64decode(shot["data"]))


def test_the_page_asks_for_a_token_first(browser, site):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{site.url}/status")
    assert browser.title == "IceProd tasks: status"
    assert browser.find_element(By.ID, "token").is_displayed()
    assert browser.find_element(By.ID, "updated").text == "not loaded yet"
    assert datasets_shown(browser) == []


def test_an_admin_token_shows_every_datasets_progress(browser, site, backend):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{site.url}/status", site.token)
    wait_until(lambda: datasets_shown(browser) == ["9", "22001", "22010"])
    for dataset_id in SEED:
        assert legend(browser, f'li.dataset[data-dataset="{dataset_id}"]') == expected(dataset_id)
    assert legend(browser, "#overall") == {"waiting": 3, "queued": 4, "processing": 1, "failed": 1, "complete": 2}
    assert browser.find_element(By.ID, "overall-total").text == "11 tasks"
    bar = browser.find_element(By.CSS_SELECTOR, 'li.dataset[data-dataset="22001"] .bar')
    assert bar.get_attribute("role") == "img"
    assert bar.get_attribute("aria-label") == (
        "Dataset 22001: 6 tasks: 3 waiting (50%), 1 processing (17%), 2 complete (33%)")
    statuses = [s.get_attribute("data-status") for s in bar.find_elements(By.CSS_SELECTOR, ".seg")]
    assert statuses == ["waiting", "processing", "complete"]  # the protocol's display order
    assert wait_until(lambda: browser.find_element(By.ID, "updated").text.startswith("updated "))
    assert site.token not in browser.current_url
    assert browser.execute_script("return sessionStorage.getItem('iceprod-status-token')") == site.token
    assert browser.execute_script("return localStorage.length") == 0
    screenshot(browser, f"status-admin-{backend}.png")


def test_task_names_open_from_the_keyboard(browser, site, backend):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(browser, f"{site.url}/status", site.token)
    wait_until(lambda: len(datasets_shown(browser)) == 3)
    browser.execute_script("document.getElementById('forget').focus()")
    ActionChains(browser).send_keys(Keys.TAB, Keys.TAB).perform()  # past dataset 9's button
    focused = browser.switch_to.active_element
    assert focused.text == "Show task names" and focused.get_attribute("aria-expanded") == "false"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    scope = 'li.dataset[data-dataset="22001"]'
    rows = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f"{scope} tbody tr"))
    assert [r.get_attribute("data-name") for r in rows] == ["generate", "filter"]  # by task_index
    cells = {(r.get_attribute("data-name"), c.get_attribute("data-status")): c.text
             for r in rows for c in r.find_elements(By.CSS_SELECTOR, "td[data-status]")}
    assert cells[("generate", "complete")] == "2" and cells[("generate", "processing")] == "1"
    assert cells[("filter", "waiting")] == "3" and cells[("filter", "complete")] == "0"
    assert browser.switch_to.active_element.get_attribute("aria-expanded") == "true"
    screenshot(browser, f"status-names-{backend}.png")


def test_the_page_updates_itself_after_a_status_change(browser, site):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{site.url}/status#refresh=1", site.token)
    scope = 'li.dataset[data-dataset="22010"]'
    wait_until(lambda: legend(browser, scope) == {"queued": 4})
    task_id = site.ids[("22010", "queued")][0]
    status_url = f"{site.url}/tasks/{task_id}/status"
    assert site.session().put(status_url, json={"status": "processing"}).status_code == 200
    try:
        wait_until(lambda: legend(browser, scope) == {"queued": 3, "processing": 1})  # no click: by itself
        assert browser.find_element(By.ID, "updated").text in ("updated 0 s ago", "updated 1 s ago")
    finally:  # as seeded, for the other tests
        assert site.session().put(status_url, json={"status": "queued"}).status_code == 200
        wait_until(lambda: legend(browser, scope) == {"queued": 4})


def test_a_user_token_sees_only_its_datasets(browser, site):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{site.url}/status", token(["user"], {"22001": "read"}))
    wait_until(lambda: datasets_shown(browser) == ["22001"])
    assert legend(browser, 'li.dataset[data-dataset="22001"]') == expected("22001")
    assert not browser.find_element(By.ID, "overall").is_displayed()
    assert "only the datasets granted to it" in browser.find_element(By.ID, "scope").text


@pytest.mark.parametrize("rejected,code", [("not-a-token", 401), (token([]), 403)], ids=["invalid", "no-role"])
def test_a_rejected_token_says_so(browser, site, rejected, code):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{site.url}/status", rejected)
    message = wait_until(lambda: browser.find_element(By.ID, "message").text.startswith("Token rejected")
                         and browser.find_element(By.ID, "message").text)
    assert f"HTTP {code}" in message
    assert browser.find_element(By.ID, "token").is_displayed()
    assert browser.switch_to.active_element.get_attribute("id") == "token"
    assert datasets_shown(browser) == []
    assert browser.execute_script("return sessionStorage.getItem('iceprod-status-token')") is None


def test_the_page_works_under_a_stage_prefix(browser, site):
    """API Gateway serves the API under ``/<stage>/``: the page must call the API there."""
    proxy = StagePrefixProxy(site.url)
    try:
        open_page(browser, f"{proxy.url}/api/status", site.token)
        wait_until(lambda: datasets_shown(browser) == ["9", "22001", "22010"])
        assert legend(browser, 'li.dataset[data-dataset="9"]') == expected("9")
    finally:
        proxy.stop()


def test_the_page_backs_off_while_the_api_fails_and_recovers(browser, site):
    from selenium.webdriver.common.by import By

    proxy = StagePrefixProxy(site.url)
    try:
        open_page(browser, f"{proxy.url}/api/status#refresh=1", site.token)
        wait_until(lambda: legend(browser, 'li.dataset[data-dataset="9"]') == expected("9"))
        proxy.outage = True
        delays = []

        def retrying() -> bool:
            text = browser.find_element(By.ID, "message").text
            if "HTTP 503" in text and "retrying in" in text:
                delay = int(text.split("retrying in ")[1].split()[0])
                if not delays or delays[-1] != delay:
                    delays.append(delay)
            return len(delays) >= 3

        wait_until(retrying)
        assert delays[:3] == [2, 4, 8]  # 1 s interval, doubled per failure in a row
        assert "stale" in browser.find_element(By.ID, "updated").get_attribute("class")
        assert datasets_shown(browser) == ["9", "22001", "22010"]  # the last numbers stay shown
        proxy.outage = False
        wait_until(lambda: browser.find_element(By.ID, "message").text == "", seconds=20)
        assert "stale" not in browser.find_element(By.ID, "updated").get_attribute("class")
    finally:
        proxy.stop()
