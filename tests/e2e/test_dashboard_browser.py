"""The dashboard in a real, headless Chromium (Debian's ``chromium`` and ``chromedriver``,
driven by Selenium): a daemon subprocess runs a plan that takes a few seconds while the
browser watches the task list and the task page change without a reload, then follows a
failed instance to its log. Screenshots go to ``test-artifacts/dashboard-*.png``.

Skipped with the reason where the browser or its driver is missing; in CI (``CI=true``)
that is a failure instead, since ``.ci/run`` installs them.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.daemon.conftest import TOKEN, DaemonProcess

from choreograph.daemon.client import DaemonClient
from choreograph.daemon.schemas import Metadata, TaskRequest

REPO = Path(__file__).resolve().parents[2]
PLAN = Path(__file__).resolve().parent / "plans" / "dashboard"
ARTIFACTS = REPO / "test-artifacts"
HOSTILE = "<script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"
WAIT_S = 60.0
DASH = "\N{EN DASH}"


def _require_browser() -> None:
    """Skip without chromium, chromedriver or selenium; fail instead when CI=true."""
    missing = [tool for tool in ("chromium", "chromedriver") if shutil.which(tool) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: .ci/run must install it")
    pytest.skip(reason)


@pytest.fixture
def browser() -> Iterator[Any]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1400")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess(tmp_path / "home")
    process.home.mkdir()
    yield process
    process.stop()


def _until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """``check()``'s first truthy value, polled every 0.1 s (the page updates itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except Exception:  # an element replaced mid-read: read it again
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _shot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000, f"screenshot {path} is tiny"


def _text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def test_list_and_task_page_follow_a_run_live_and_a_failure_is_one_click_away(
    browser: Any, daemon: DaemonProcess
) -> None:
    from selenium.webdriver.common.by import By

    daemon.start()
    browser.get(daemon.url + "/")
    browser.execute_script("window.notReloaded = true")
    client = DaemonClient(daemon.url)
    request = TaskRequest(
        case="slow", instances=3, test_params={"steps": "12"}, metadata=Metadata(branch="main")
    )
    task_id = client.submit(request, PLAN)

    row = f"tr[data-task='{task_id}']"
    seen: list[str] = []

    def state() -> str:
        text = _text(browser, f"{row} td.state")
        if not seen or seen[-1] != text:
            seen.append(text)
        return text

    _until(lambda: state() == "processing", "the list to show the task processing")
    _shot(browser, "list-processing")

    # The task page, in a second tab, while the run goes on.
    list_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"{daemon.url}/tasks/{task_id}")
    browser.execute_script("window.notReloaded = true")
    _until(lambda: int(_text(browser, "#groups tr[data-group='single'] td:nth-child(3)")) == 3,
           "three instances started")  # fmt: skip
    assert "live" in _text(browser, "#live-state")
    _until(lambda: _text(browser, "#failed-count") == "1", "the failure to show while running")
    assert client.task(task_id).state == "processing", "the run ended before the page saw it"
    failure = _text(browser, "#failed-live li")
    assert failure.startswith("single/1") and f"gave up {HOSTILE}" in failure  # text, not markup
    _shot(browser, "task-live")

    _until(lambda: "complete" in _text(browser, "#live-state"), "the task page to see the end")
    _until(lambda: browser.find_elements(By.CSS_SELECTOR, "#final table.outcome"), "outcome")
    assert "1/3" not in _text(browser, "#final table.outcome")
    assert "2/3" in _text(browser, "#final table.outcome")
    assert "failure" in _text(browser, "#facts")
    browser.find_element(By.CSS_SELECTOR, "#merged-log summary").click()
    _until(lambda: "end of log" in _text(browser, "#merged-log [data-role=status]"), "merged log")
    assert "single/2" in _text(browser, "#merged-log pre") and "step 12/12" in _text(
        browser, "#merged-log pre"
    )
    browser.find_element(By.CSS_SELECTOR, "#report-box summary").click()
    _until(lambda: browser.find_element(By.ID, "report").get_attribute("src"), "report frame")
    browser.switch_to.frame(browser.find_element(By.ID, "report"))
    _until(lambda: "Outcome" in browser.find_element(By.TAG_NAME, "body").text, "report")
    browser.switch_to.default_content()
    assert browser.execute_script("return window.notReloaded") is True
    _shot(browser, "task-done")

    # One click from the outcome to the failed instance's log.
    browser.find_element(By.CSS_SELECTOR, "#final a.instance-link").click()
    _until(lambda: "end of log" in _text(browser, "#instance-log [data-role=status]"), "log")
    assert "boom: instance 1 gave up" in _text(browser, "#instance-error")
    assert "about to fail" in _text(browser, "#instance-log pre")
    assert browser.execute_script("return window.pwned") is None
    _shot(browser, "instance")

    # Back on the list: the same page, never reloaded, now says how it ended.
    browser.switch_to.window(list_tab)
    _until(lambda: state() == "complete", "the list to show the task complete")
    assert _text(browser, f"{row} td.outcome") == "failure"
    assert browser.execute_script("return window.notReloaded") is True
    assert seen[0] in ("scheduled", "processing") and seen[-1] == "complete", seen
    assert browser.execute_script("return window.pwned") is None
    _shot(browser, "list-complete")


def test_with_tokens_the_browser_logs_in_with_an_httponly_cookie(
    browser: Any, daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    monkeypatch.setenv("CHOREO_DAEMON_TOKENS", f"ci:{TOKEN}")
    daemon.start()
    client = DaemonClient(daemon.url, token=TOKEN)
    request = TaskRequest(case="slow", instances=2, test_params={"steps": "4", "fail_index": "-1"})
    task_id = client.submit(request, PLAN)

    browser.get(f"{daemon.url}/tasks/{task_id}")
    _until(lambda: "/login" in browser.current_url, "the redirect to /login")
    assert not browser.find_elements(By.ID, "facts") and "slow" not in browser.page_source
    browser.find_element(By.NAME, "token").send_keys("not-the-token-at-all")
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    _until(lambda: "unknown token" in browser.page_source, "the refusal")
    browser.find_element(By.NAME, "token").send_keys(TOKEN)
    _shot(browser, "login")
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()

    _until(lambda: browser.current_url.endswith(f"/tasks/{task_id}"), "back at the task page")
    assert TOKEN not in browser.current_url
    cookie = browser.get_cookie("choreo_token")
    assert cookie is not None and cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # scripts cannot read it
    _until(lambda: "complete" in _text(browser, "#live-state"), "events through the cookie")
    _until(lambda: browser.find_elements(By.CSS_SELECTOR, "#final table.outcome"), "outcome")
    assert "2/2" in _text(browser, "#final table.outcome")
    browser.get(daemon.url + "/")
    assert task_id in _text(browser, "#task-rows")
    _shot(browser, "logged-in-list")


def _big_finished_task(home: Path, groups: dict[str, int], failing: set[str]) -> str:
    """A finished task of ``sum(groups)`` instances, written as the daemon would have:
    its row, its event log and its run.json (no processes needed for 2,000 instances)."""
    from choreograph.daemon.tasks import TaskStore, new_task_id

    store = TaskStore(home / "daemon" / "tasks.sqlite")
    task_id, run_id = new_task_id(), "20261130-120000-000bbbbbb"
    store.add(task_id, TaskRequest(case="all"), "big", "all", "local")
    store.set_run(task_id, run_id)
    store.finish(task_id, "complete", "failure", 1)
    store.close()
    keys = [f"{g}/{i}" for g, n in groups.items() for i in range(n)]
    status = {k: "failure" if k in failing else "success" for k in keys}
    events: list[dict[str, Any]] = [
        {"type": "RunStarted", "run_id": run_id, "run_dir": "", "plan": "big", "case": "all",
         "runner": "local:exec", "groups": groups},
        *({"type": "InstanceStarted", "key": k} for k in keys),
        *({"type": "InstanceFinished", "key": k, "status": status[k],
           "error": f"{k} failed" if k in failing else "", "detail": ""} for k in keys),
    ]  # fmt: skip
    folder = home / "daemon" / "tasks" / task_id
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    outcome_groups = [
        {"group": g, "total": n, "ok": n - sum(k.startswith(f"{g}/") for k in failing),
         "failed": sum(k.startswith(f"{g}/") for k in failing), "crashed": 0, "stopped": 0}
        for g, n in groups.items()
    ]  # fmt: skip
    record = {
        "run_id": run_id,
        "status": "failure",
        "spec": {"groups": [{"id": g, "instances": n} for g, n in groups.items()]},
        "outcome": {
            "success": False,
            "groups": outcome_groups,
            "instances": {k: {"status": status[k], "error": ""} for k in keys},
        },
    }
    run = home / "runs" / run_id
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps(record))
    return task_id


def test_a_2000_instance_run_reads_as_group_summaries_with_paged_instances(
    browser: Any, daemon: DaemonProcess
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    failing = {f"b/{i}" for i in range(300)}  # 300 failures in group b
    task_id = _big_finished_task(daemon.home, {"a": 1500, "b": 500}, failing)
    daemon.start()
    browser.get(f"{daemon.url}/tasks/{task_id}")
    _until(lambda: "complete" in _text(browser, "#live-state"), "the replay to end")
    _until(lambda: _text(browser, "#groups tr[data-group='b'] td:nth-child(6)") == "300", "b")
    assert _text(browser, "#groups tr[data-group='a'] td:nth-child(5)") == "1500"
    assert _text(browser, "#failed-count") == "300"
    shown = browser.find_elements(By.CSS_SELECTOR, "#failed-live li")
    assert len(shown) == 201 and "100 more" in shown[-1].text  # capped, the rest summarized
    final = browser.find_elements(By.CSS_SELECTOR, "#final table.failed-final tbody tr")
    assert len(final) == 50 and "of 300" in _text(browser, "#final .pager")

    assert not browser.find_element(By.ID, "instances").is_displayed()  # collapsed
    browser.find_element(By.CSS_SELECTOR, "#groups tr[data-group='b'] button").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#instances-rows tr")
    assert len(rows) == 100 and _text(browser, "#instances-range") == f"1{DASH}100 of 500"
    Select(browser.find_element(By.ID, "instances-filter")).select_by_value("bad")
    assert _text(browser, "#instances-range") == f"1{DASH}100 of 300"
    browser.find_element(By.ID, "instances-next").click()
    assert _text(browser, "#instances-range") == f"101{DASH}200 of 300"
    assert _text(browser, "#instances-rows tr:first-child td:first-child") == "b/100"
    _shot(browser, "task-2000")
