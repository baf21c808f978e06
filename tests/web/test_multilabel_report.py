"""The run page's multi-label report: report.json's ``multilabel`` section is served through its one type, and a
section that does not fit becomes a warning instead of a broken page (browser rendering: test_pages_browser)."""

from __future__ import annotations

from tests.web.multilabel_report import MULTILABEL_SECTION, write_multilabel_run


def test_the_report_api_serves_the_typed_multilabel_section(client, settings):
    write_multilabel_run(settings.data_dir / "runs" / "night-mix")
    runs = client.get("/api/runs").json()  # adopts the run folder made outside the server
    run_id = next(r["id"] for r in runs if r["run_dir"].endswith("night-mix"))
    report = client.get(f"/api/runs/{run_id}/report").json()
    section = report["multilabel"]
    assert report["complete"] and section["map"] == 0.74
    assert section["per_class"]["owl"]["threshold"] == 0.41 and section["per_class"]["cricket"]["ap"] is None
    assert section["pr_curves"]["frog"]["recall"] == [0.2, 0.66, 1.0]
    assert "multilabel-table" in client.get(f"/runs/{run_id}").text


def test_a_multilabel_section_that_does_not_fit_is_a_warning(client, settings):
    broken = {**MULTILABEL_SECTION, "per_class": {"owl": {"ap": "high"}}}
    write_multilabel_run(settings.data_dir / "runs" / "broken-mix", broken)
    runs = client.get("/api/runs").json()
    run_id = next(r["id"] for r in runs if r["run_dir"].endswith("broken-mix"))
    report = client.get(f"/api/runs/{run_id}/report").json()
    assert "multilabel" not in report
    assert any("multilabel section is unreadable" in warning for warning in report["warnings"])


def test_the_try_page_lists_every_class_present_and_sends_windows_near_a_threshold(tmp_path):
    import numpy as np

    from nightscan_edge.predict.classifier import Classifier
    from nightscan_edge.spec import AudioSpec
    from nightscan_edge.web.routers.try_it import try_classifier
    from tests.conftest import write_tone

    spec = AudioSpec(sample_rate=8000, clip_samples=7936, n_fft=256, hop_length=128, n_mels=32)
    rows = [[0.9, 0.8, 0.1], [0.9, 0.55, 0.1]]  # alternately; fox 0.55 is 0.05 from its threshold 0.6
    scored = []

    def predict_batch(inputs):
        for _ in inputs:
            scored.append(rows[len(scored) % 2])
        return np.array(scored[-len(inputs) :], np.float32)

    thresholds = {"owl": 0.5, "fox": 0.6, "bat": 0.5}
    classifier = Classifier(
        "fake", "r", ["owl", "fox", "bat"], spec, predict_batch, objective="multilabel", thresholds=thresholds
    )
    result = try_classifier(classifier, write_tone(tmp_path / "night.wav", 700, 3.0, 8000), threshold=0.8)
    assert [w["label"] for w in result["windows"][:2]] == ["owl, fox", "owl"]
    for window in result["windows"]:
        assert window["edge"] == (window["labels"] == ["owl", "fox"])  # 0.8 is far from 0.6; 0.55 is near
    assert result["sent"] == sum(not w["edge"] for w in result["windows"]) > 0
