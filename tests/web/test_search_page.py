"""The Search page: studies under ``<data dir>/studies/`` with their trials, the front's plot, and a button that
opens the winning run (recorded in the history on first sight, like any run trained from the command line)."""

from __future__ import annotations

import json
from pathlib import Path

from nightscan_edge.config import resolve_config
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.study_folder import StudyFolder
from nightscan_edge.train.events import write_status


def _row(trial: int, state: str, macro_f1: float | None, model_dir: str | None, front: bool) -> dict:
    measured = macro_f1 is not None
    return {"trial": trial, "state": state, "params": {}, "run_dir": model_dir, "model_dir": model_dir,
            "export_dir": None, "macro_f1": macro_f1, "latency_p50_ms": 0.8 if measured else None,
            "size_mb": 0.2 if measured else None, "int8_gate": "pass" if measured else None,
            "within_budget": True if measured else None, "violations": [], "on_front": front,
            "note": None}  # fmt: skip


def _study(data_dir: Path, confirmations: list[dict] | None = None) -> Path:
    folder = StudyFolder(data_dir / "studies" / "owls")
    run = RunFolder(folder.runs_dir / "owls-trial-0001")
    run.path.mkdir(parents=True)
    run.write_config(resolve_config({"data": {"path": "somewhere"}, "model": {"name": "ultralight_audio"}}))
    write_status(run.path, "done", run_id=run.path.name)
    trials = [_row(0, "pruned", None, None, False), _row(1, "complete", 0.871, str(run.path), True)]
    table = {"study": "owls", "trials": trials, "winner": 1}
    if confirmations is not None:  # as tune.results writes them
        table["confirmations"] = confirmations
        table["winner_confirmation"] = next((c for c in confirmations if c["trial"] == 1 and c["robust"]), None)
    folder.table_json.write_text(json.dumps(table))
    folder.plot.write_bytes(b"\x89PNG\r\n\x1a\n")
    return run.path


def test_the_search_page_lists_trials_and_opens_the_winning_run(client, settings):
    run_dir = _study(settings.data_dir)
    page = client.get("/search")
    assert page.status_code == 200
    assert 'data-study="owls"' in page.text and "0.871" in page.text and 'data-trial="0"' in page.text
    assert '<a class="button" href="/runs/owls-trial-0001">Open the winning run</a>' in page.text
    assert client.get("/runs/owls-trial-0001").status_code == 200  # the winning run is in the history now
    study = client.get("/api/studies/owls").json()
    assert study["winner_run"] == "owls-trial-0001" and study["measured"] == 1
    assert client.get("/api/runs/owls-trial-0001").json()["run_dir"] == str(run_dir)
    assert client.get("/studies/owls/pareto.png").headers["content-type"] == "image/png"


def test_an_unknown_study_is_404_and_no_study_says_how_to_start_one(client):
    assert "No study yet" in client.get("/search").text
    assert client.get("/api/studies").json() == []
    response = client.get("/api/studies/..%2F..%2Fetc")
    assert response.status_code == 404
    assert client.get("/studies/nothing/pareto.png").status_code == 404


def test_the_winner_confirmed_on_more_seeds_shows_each_seed_and_an_unconfirmed_one_says_so(client, settings):
    confirmed = {"trial": 1, "seeds": [42, 43, 44], "macro_f1": [0.871, 0.852, 0.858], "mean_macro_f1": 0.8603,
                 "min_macro_f1": 0.852, "within_budget": [True] * 3, "int8_gate": ["pass"] * 3, "errors": [None] * 3,
                 "robust": True}  # fmt: skip
    _study(settings.data_dir, [confirmed])
    page = client.get("/search").text
    assert "Confirmed on seeds 42, 43, 44: macro-F1" in page and "0.871 / 0.852 / 0.858" in page
    assert "(mean 0.860)" in page
    assert client.get("/api/studies/owls").json()["confirmation"]["seeds"] == [42, 43, 44]


def test_a_winner_no_confirmation_held_is_marked_as_one_seeds_figure(client, settings):
    broken = {"trial": 1, "seeds": [42, 43], "macro_f1": [0.871, None], "mean_macro_f1": 0.871, "min_macro_f1": 0.871,
              "within_budget": [True, False], "int8_gate": ["pass", None], "errors": [None, "RuntimeError: x"],
              "robust": False}  # fmt: skip
    _study(settings.data_dir, [broken])
    assert "the winner is one seed's figure" in client.get("/search").text
    assert client.get("/api/studies/owls").json()["confirmation"] is None
