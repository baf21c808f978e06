"""Every page in real headless Chromium, at a phone width (412 px) and a laptop width (1280 px).

The server is ``nightscan-edge serve`` as a user starts it, with the fast fake worker (tests/web/fake_worker.py)
so runs, exports and benchmarks finish in seconds. Each page is checked for what a field biologist needs on
it and for horizontal overflow (the page never scrolls sideways; wide tables scroll inside their card), and a
screenshot of each is saved under ``test-artifacts/screenshots/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.web.conftest import FAKE_WORKER
from tests.web.multilabel_report import LABELS as MULTILABEL_LABELS
from tests.web.multilabel_report import write_multilabel_run

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(
    os.environ.get("NIGHTSCAN_SCREENSHOTS", Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots")
)
WIDTHS = (412, 1280)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _call(url: str, body: dict | None = None, method: str | None = None) -> dict | list:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method or ("POST" if body is not None else "GET"),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def _wait(url: str, predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        body = _call(url)
        if predicate(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting on {url}: {body}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium; .ci/run does it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A server with a finished run (exported and benchmarked), a cancelled one, audio and photo datasets."""
    from nightscan_edge.data import write_synthetic_dataset

    base = tmp_path_factory.mktemp("pages")
    roots = base / "roots"
    audio = write_synthetic_dataset(roots / "night-sounds", kind="audio", per_class=3, sample_rate=8000)
    photos = write_synthetic_dataset(roots / "trail-photos", kind="photo", per_class=3, image_size=48)
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("NIGHTSCAN_")}
    env.update(
        NIGHTSCAN_WORKER_COMMAND=f"{sys.executable} {FAKE_WORKER}", OMP_NUM_THREADS="1", FAKE_BATCH_SECONDS="0.02"
    )
    log = open(base / "server.log", "wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nightscan_edge.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(base / "data"),
            "--dataset-root",
            str(roots),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _call(f"{url}/api/runs")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((base / "server.log").read_text()) from None
                time.sleep(0.3)
        audio_set = _call(f"{url}/api/datasets", {"path": str(audio), "name": "night sounds"})
        photo_set = _call(f"{url}/api/datasets", {"path": str(photos), "name": "trail photos"})
        done = _call(
            f"{url}/api/runs",
            {"model": "ultralight_audio", "dataset_id": audio_set["id"], "config": {"train": {"epochs": 3}}},
        )
        _wait(f"{url}/api/runs/{done['id']}", lambda r: r["status"] == "done")
        export = _call(f"{url}/api/runs/{done['id']}/exports", {"formats": ["onnx"], "int8": True})
        _wait(f"{url}/api/exports/{export['id']}", lambda e: e["status"] == "done")
        bench = _call(f"{url}/api/exports/{export['id']}/bench", {})
        _wait(f"{url}/api/exports/{bench['id']}", lambda e: e["status"] == "done")
        yield {"url": url, "audio": audio_set, "photos": photo_set, "done": done["id"], "data_dir": base / "data"}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _check_layout(page, name: str) -> None:
    """No sideways scrolling at either width; a screenshot of each."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)  # let responsive charts settle
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        assert overflow <= 1, f"{name} is {overflow} px wider than a {width} px window"


def test_catalogue_and_api_docs_work_offline(browser, site):
    page = browser.new_page()
    page.set_default_timeout(120_000)  # the first catalogue measures every model
    page.goto(site["url"])
    assert page.locator('#catalogue tr[data-model="ultralight_audio"]').is_visible()
    _check_layout(page, "catalogue")
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{site['url']}/api/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert all(u.startswith(site["url"]) for u in requests), [u for u in requests if not u.startswith(site["url"])]
    _check_layout(page, "api-docs")


def test_data_pages_show_files_sounds_spectrograms_and_thumbnails(browser, site):
    page = browser.new_page()
    page.goto(f"{site['url']}/datasets")
    assert page.locator("section.dataset").count() == 2
    _check_layout(page, "datasets")
    page.goto(f"{site['url']}/datasets/{site['audio']['id']}")
    row = page.locator("#files tbody tr").first
    assert "8,000 Hz" in row.text_content() and row.locator("audio").count() == 1
    picture = row.locator("img.spectrogram")
    picture.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=picture.element_handle())
    _check_layout(page, "dataset-audio")
    page.goto(f"{site['url']}/datasets/{site['photos']['id']}")
    thumb = page.locator("img.thumbnail").first
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    _check_layout(page, "dataset-photos")


def test_run_form_groups_settings_shows_the_preset_diff_and_filters_datasets(browser, site):
    page = browser.new_page()
    page.goto(f"{site['url']}/runs/new?model=ultralight_audio")
    assert [o.text_content() for o in page.locator("#dataset option").all()] == ["night sounds (audio, 12 files)"]
    assert "1 dataset(s) of another kind hidden" in page.text_content("#hidden-datasets")
    assert page.locator("fieldset.group legend").all_text_contents() == ["Data", "Model", "Training"]
    assert "Learning rate" in page.text_content("#group-train")
    page.fill('[name="train.epochs"]', "7")
    assert "Epochs: 30 → 7" in page.text_content("#preset-diff") or "→ 7" in page.text_content("#preset-diff")
    assert page.locator('[data-field="train.epochs"].changed').count() == 1
    _check_layout(page, "new-run")


def test_an_untouched_preset_form_lists_no_change_and_no_page_requests_a_missing_file(browser, site):
    page = browser.new_page()
    failed = []  # what the console reports as a failed load (the favicon 404 a new user saw on every page)
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.goto(f"{site['url']}/runs/new")
    assert page.locator("#model").input_value() == "ultralight_audio"  # an edge model, no extra to install
    for model in ("ultralight_audio", "mobilenet_v3_small_photo", "birdnet_head"):
        page.goto(f"{site['url']}/runs/new?model={model}")
        page.wait_for_load_state("load")
        assert page.locator("#preset-diff li").count() == 0, page.text_content("#preset-diff")
        assert page.locator("#preset-same").is_visible() and page.locator(".field.changed").count() == 0
    for path in ("/", "/datasets", "/runs", "/try"):
        page.goto(f"{site['url']}{path}")
        page.wait_for_load_state("load")
    assert page.evaluate("document.querySelector('link[rel=icon]').href").endswith("/static/favicon.svg")
    assert failed == []


def test_live_run_cancel_asks_first_then_resume_appears_without_a_reload(browser, site):
    run = _call(
        f"{site['url']}/api/runs",
        {"model": "ultralight_audio", "dataset_id": site["audio"]["id"], "config": {"train": {"epochs": 400}}},
    )
    page = browser.new_page()
    page.goto(f"{site['url']}/runs/{run['id']}")
    page.wait_for_function("Chart.getChart('batch-chart').data.datasets[0].data.length > 3", timeout=60_000)
    assert "Waiting for a free worker" not in page.text_content("#progress-text")
    assert "ETA" in page.text_content("#eta")
    box = page.locator("#batch-chart").bounding_box()
    page.wait_for_timeout(500)
    assert page.locator("#batch-chart").bounding_box()["height"] == box["height"]  # charts keep their size
    _check_layout(page, "run-live")
    page.set_viewport_size({"width": 1280, "height": 900})
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("#cancel")
    assert dialogs and "Cancel run" in dialogs[0]
    assert _call(f"{site['url']}/api/runs/{run['id']}")["status"] == "running"  # dismissed: nothing happened
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel")
    page.wait_for_url(f"{site['url']}/runs/{run['id']}")
    page.wait_for_function("document.getElementById('status').textContent === 'cancelled'", timeout=60_000)
    page.wait_for_selector("#resume-form:not([hidden])", timeout=30_000)
    url_before = page.url
    page.click("#resume")
    page.wait_for_function("['queued', 'running'].includes(document.getElementById('status').textContent)")
    assert page.url == url_before
    _call(f"{site['url']}/api/runs/{run['id']}/cancel", {})


def test_finished_run_shows_results_per_file_and_the_benchmark_chart(browser, site):
    page = browser.new_page()
    page.goto(f"{site['url']}/runs/{site['done']}")
    page.wait_for_selector("#report:not([hidden]) #confusion tr")
    row = page.locator("table.results tr[data-precision='fp32']")
    row.wait_for()
    cells = row.locator("td").all_text_contents()
    assert cells[:4] == ["model.onnx", "onnx", "fp32", "0.90"] and cells[4] == "4.20" and cells[6] == "90.0 %"
    assert "rejected" in page.locator("table.results tr[data-precision='int8'] td").last.text_content()
    assert "Edge threshold 0.62: 71 %" in page.text_content(".results .threshold")
    page.wait_for_function(
        "document.querySelector('img.bench') && document.querySelector('img.bench').naturalWidth > 0"
    )
    assert page.evaluate("Chart.getChart('loss-chart').data.labels") == ["1", "2", "3"]  # epochs from 1
    _check_layout(page, "run-done")


def test_history_and_compare(browser, site):
    page = browser.new_page()
    page.goto(f"{site['url']}/runs")
    page.check(f'input[value="{site["done"]}"]')
    _check_layout(page, "history")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("#compare")
    page.wait_for_selector("#figures tbody tr")
    # The table is server-rendered; the charts exist once chart.umd.js and compare.js have run (slow under load).
    page.wait_for_function("window.Chart !== undefined && Chart.getChart('compare-acc') !== undefined", timeout=30_000)
    assert page.evaluate("Chart.getChart('compare-acc').data.datasets.length") == 1
    _check_layout(page, "compare")


def test_make_run_on_a_fresh_folder_opens_in_a_browser(browser, tmp_path):
    from tests.web.test_fresh_clone import start_fresh_demo, stop

    fresh = tmp_path / "fresh-clone"
    fresh.mkdir()
    process, url, _ = start_fresh_demo(fresh)
    try:
        page = browser.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/datasets")
        assert "synthetic sounds (demo)" in page.text_content("section.dataset")
        _check_layout(page, "fresh-demo-datasets")
    finally:
        stop(process)


def test_try_it_page_offers_the_exports_and_dataset_files(browser, site):
    page = browser.new_page()
    page.goto(f"{site['url']}/try")
    assert page.locator("#export option").count() >= 1
    assert page.input_value("#threshold") == "0.62"  # the export's recommended threshold
    assert page.locator("#dataset_file option").count() > 12
    _check_layout(page, "try")


def test_a_multilabel_run_shows_per_class_figures_and_precision_recall_curves(browser, site):
    write_multilabel_run(site["data_dir"] / "runs" / "night-mix")  # what the training side writes (hand-made)
    run_id = next(r["id"] for r in _call(f"{site['url']}/api/runs") if r["run_dir"].endswith("night-mix"))
    page = browser.new_page()
    page.goto(f"{site['url']}/runs/{run_id}")
    page.wait_for_selector("#multilabel:not([hidden])")
    rows = page.locator("#multilabel-table tr[data-label]")
    assert [row.get_attribute("data-label") for row in rows.all()] == MULTILABEL_LABELS
    owl = rows.first.locator("td").all_text_contents()
    assert owl == ["owl", "0.910", "0.970", "0.860", "0.900", "0.820", "0.410", "22"]
    assert rows.nth(2).locator("td").all_text_contents()[1] == "–"  # no positives: no AP
    curves = page.evaluate("Chart.getChart('pr-chart').data.datasets.map((d) => [d.label, d.data.length])")
    assert curves == [["owl (AP 0.910)", 4], ["frog (AP 0.570)", 3]]
    assert page.locator("#report-tables").is_hidden() and "mAP 0.740" in page.text_content("#report-summary")
    _check_layout(page, "run-multilabel")


def test_the_search_page_shows_trials_and_a_confirmation_as_they_arrive(browser, site):
    import json

    from nightscan_edge.study_folder import StudyFolder

    folder = StudyFolder(site["data_dir"] / "studies" / "live")
    folder.path.mkdir(parents=True)
    row = {"trial": 0, "state": "complete", "params": {}, "run_dir": None, "model_dir": None, "export_dir": None,
           "macro_f1": 0.871, "latency_p50_ms": 0.8, "size_mb": 0.2, "int8_gate": "pass", "within_budget": True,
           "violations": [], "on_front": True, "note": None}  # fmt: skip
    folder.table_json.write_text(json.dumps({"study": "live", "trials": [row], "winner": 0}))
    page = browser.new_page()
    page.goto(f"{site['url']}/search")
    assert page.text_content('[data-study="live"] .confirmation').strip() == ""
    # the tune process confirms the winner on two more seeds and adds a trial: the page shows both without a reload
    confirmed = {"trial": 0, "seeds": [42, 43, 44], "macro_f1": [0.871, 0.85, 0.86], "mean_macro_f1": 0.8603,
                 "min_macro_f1": 0.85, "within_budget": [True] * 3, "int8_gate": ["pass"] * 3, "errors": [None] * 3,
                 "robust": True}  # fmt: skip
    second = {**row, "trial": 1, "macro_f1": 0.8, "on_front": False}
    table = {"study": "live", "trials": [row, second], "winner": 0, "confirmations": [confirmed],
             "winner_confirmation": confirmed}  # fmt: skip
    folder.table_json.write_text(json.dumps(table))
    page.wait_for_selector('[data-study="live"] tr[data-trial="1"]', timeout=20_000)
    text = page.text_content('[data-study="live"] .confirmation')
    assert "Confirmed on seeds 42, 43, 44: macro-F1 0.871 / 0.850 / 0.860 (mean 0.860)." in text
    _check_layout(page, "search")
