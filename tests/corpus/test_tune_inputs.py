"""The bad-input corpus of ``nightscan-edge tune``: a search-space key the family lacks, a storage that cannot be
opened, one study name with another space, an unreachable budget -- exit 2, ONE ``error:`` line, nothing that
was already written changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.corpus.conftest import assert_one_line_error, tree_hash
from tests.tune.conftest import TINY_SPACE, tiny_tune_args

optuna = pytest.importorskip("optuna", reason="the tune extra is not installed")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "space.yaml").write_text(TINY_SPACE)
    (tmp_path / "budget.yaml").write_text("formats: [onnx]\nmax_mb: 5\n")
    return {"space": tmp_path / "space.yaml", "budget": tmp_path / "budget.yaml", "out": tmp_path / "study"}


def test_a_space_key_the_family_lacks(corpus_audio, files, cli):
    files["space"].write_text("widths: [8, 16]\n")
    code, stderr = cli(*tiny_tune_args(corpus_audio, files["budget"], files["space"], files["out"]))
    assert code == 2
    assert_one_line_error(stderr, "'widths' not in ultralight_audio's space", "width_multiplier")
    assert not files["out"].exists()


@pytest.mark.parametrize("url", ["sqlite:////no/such/folder/study.db", "nosuchdb://host/db"])
def test_a_storage_that_cannot_be_opened(url, corpus_audio, files, cli):
    args = tiny_tune_args(corpus_audio, files["budget"], files["space"], files["out"], "--storage", url)
    code, stderr = cli(*args)
    assert code == 2
    assert_one_line_error(stderr, f"--storage {url} cannot be opened")
    assert not files["out"].exists()


def test_one_study_name_with_another_space(corpus_audio, files, cli):
    from nightscan_edge.tune.sampling import make_sampler
    from nightscan_edge.tune.storage import default_storage_url, open_storage, open_study
    from nightscan_edge.tune.study import TuneOptions, plan_study

    first = TuneOptions(data=corpus_audio, model="ultralight_audio", budget=files["budget"], space=files["space"],
                        out=files["out"], study="owls")  # fmt: skip
    plan, search = plan_study(first)
    files["out"].mkdir()
    open_study("owls", open_storage(default_storage_url(files["out"])), search, make_sampler(0, 1))
    before = tree_hash(files["out"])
    files["space"].write_text(TINY_SPACE.replace("n_mels: 16", "n_mels: [16, 32]"))
    args = tiny_tune_args(corpus_audio, files["budget"], files["space"], files["out"], "--study", "owls")
    code, stderr = cli(*args)
    assert code == 2
    assert_one_line_error(stderr, "study 'owls' already exists with a different space", "--study NEW_NAME")
    assert tree_hash(files["out"]) == before


@pytest.mark.slow
def test_an_unreachable_budget_stops_after_measuring_the_smallest_configuration(corpus_audio, files, cli):
    files["budget"].write_text("formats: [onnx]\nmax_mb: 0.001\nmax_latency_ms: 0.0001\n")
    code, stderr = cli(*tiny_tune_args(corpus_audio, files["budget"], files["space"], files["out"], "--trials", "5"))
    assert code == 2
    line = assert_one_line_error(stderr, "out of reach for ultralight_audio", "smallest configuration", "max_mb 0.001")
    assert " MB and " in line and " ms p50 at 1 thread" in line
    trials = json.loads((files["out"] / "pareto.json").read_text())["trials"]
    assert [(t["trial"], t["state"]) for t in trials] == [(0, "complete")]  # measured once, nothing more
    assert trials[0]["size_mb"] > 0.001 and trials[0]["params"]["width_multiplier"] == 0.25
