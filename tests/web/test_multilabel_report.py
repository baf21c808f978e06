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
