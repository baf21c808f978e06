"""Reviewing 30 windows by keyboard only in headless Chromium: digits file a window under a label, Enter/a
accept, b background, x reject, space plays, arrows move, u and ctrl-z undo; every decision is in the queue
afterwards as pressed. Drives the page with ``benchmarks/review_speed.py``'s helpers, so the test and the
measured figure exercise the same path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.web.test_pages_browser import CHROMIUM, CHROMIUM_ARGS

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:  # the benchmark imports its sibling bench_common as a script does
    sys.path.insert(0, str(BENCHMARKS))

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import review_speed  # noqa: E402 -- needs benchmarks/ on the path first

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WINDOWS = 30
PLAN = ("Enter", "2", "b", "x", "a", "5")


def _expected(key: str, proposed: str, labels: list[str]) -> tuple[str, str | None]:
    if key in ("Enter", "a"):
        return "accept", proposed
    if key == "x":
        return "reject", None
    chosen = "background" if key == "b" else labels[int(key) - 1]
    if chosen == "background":
        return "background", "background"
    return ("accept" if chosen == proposed else "relabel"), chosen


def test_thirty_windows_reviewed_by_keyboard_only(tmp_path):
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium; .ci/run does it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    keys = [PLAN[i % len(PLAN)] for i in range(WINDOWS)]
    with review_speed.running_server(tmp_path / "data", tmp_path / "roots") as url:
        queue = review_speed.prepare_queue(url, tmp_path / "roots", WINDOWS)
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.goto(f"{url}/review/nights")
            current = review_speed.wait_for_window(page, 0, "")
            page.keyboard.press(" ")  # space plays the window's sound, and again pauses it
            page.wait_for_function("() => !document.getElementById('sound').paused")
            page.keyboard.press(" ")
            page.wait_for_function("() => document.getElementById('sound').paused")
            for number, key in enumerate(keys, start=1):
                if number in (11, 21):  # undo the last decision (u, then ctrl-z): the page goes back to it
                    page.keyboard.press("u" if number == 11 else "Control+z")
                    page.wait_for_function(
                        "n => document.getElementById('progress').textContent.startsWith(`${n} of`)"
                        " && document.getElementById('current').dataset.state === 'ready'",
                        arg=number - 2,
                    )
                    undone = page.get_attribute("#current", "data-window-id")
                    assert undone != current  # back on the window decided last
                    page.keyboard.press(keys[number - 2])  # decide it again the same way
                    current = review_speed.wait_for_window(page, number - 1, undone)
                if number == 16:  # arrows move without deciding
                    page.keyboard.press("ArrowRight")
                    moved = review_speed.wait_for_window(page, number - 1, current)
                    page.keyboard.press("ArrowLeft")
                    current = review_speed.wait_for_window(page, number - 1, moved)
                if number < WINDOWS:
                    page.keyboard.press(key)
                    current = review_speed.wait_for_window(page, number, current)
                else:
                    page.keyboard.press(key)
                    page.wait_for_function(
                        "n => document.getElementById('progress').textContent.startsWith(`${n} of`)", arg=number
                    )
            for path in ("/review/nights", "/review"):  # a phone's width: the page never scrolls sideways
                page.set_viewport_size({"width": 412, "height": 900})
                page.goto(f"{url}{path}")
                wide = page.evaluate(
                    "() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
                    "window.innerWidth + 1).map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)"
                )
                assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1, (path, wide)
            browser.close()
        windows = review_speed.call(f"{url}/api/review/nights/windows")
    labels = queue["labels"]
    decided = [(w["decision"]["action"], w["decision"]["label"]) for w in windows]
    assert decided == [_expected(key, w["label"], labels) for key, w in zip(keys, windows, strict=True)]
    assert {action for action, _ in decided} == {"accept", "relabel", "background", "reject"}
    assert problems == []
