"""``review suggest`` in the bad-input corpus: a run of the other modality, an empty folder, ``--n 0``, not a run,
no folder -- exit 2, ONE ``error:`` line saying what to pass, the recordings and every queue as they were."""

from __future__ import annotations

import pytest

from nightscan_edge.review import ReviewStore
from tests.conftest import write_tone
from tests.corpus.conftest import assert_one_line_error, tree_hash
from tests.predict.conftest import TINY_AUDIO_SPEC, tiny_audio_run, tiny_photo_run  # noqa: F401 -- fixtures

CASES = {
    "photo_run_on_recordings": ("photo", "night", [], ("holds 1 recording(s) and no photos", "classifies photos")),
    "empty_folder": ("audio", "empty", [], ("holds no recordings", "give the folder")),
    "n_zero": ("audio", "night", ["--n", "0"], ("--n must be at least 1",)),
    "n_negative": ("audio", "night", ["--n", "-3"], ("--n must be at least 1",)),
    "not_a_run": ("none", "night", [], ("no-run",)),
    "no_folder": ("audio", "nowhere", [], ("not found", "folder of unlabelled recordings")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_suggest_request(case, tiny_audio_run, tiny_photo_run, tmp_path, cli) -> None:  # noqa: F811
    run_kind, folder_name, extra, words = CASES[case]
    write_tone(tmp_path / "night" / "a.wav", 500, 2.0, TINY_AUDIO_SPEC.sample_rate)
    (tmp_path / "empty").mkdir()
    (tmp_path / "no-run").mkdir()
    run = {"audio": tiny_audio_run, "photo": tiny_photo_run, "none": tmp_path / "no-run"}[run_kind]
    data_dir = tmp_path / "web"
    ReviewStore(data_dir).create_queue("owls", ["owl", "fox", "bat"], "audio")
    before = tree_hash(tmp_path / "night", run)
    code, stderr = cli("review", "suggest", run, tmp_path / folder_name, "--data-dir", data_dir, *extra)
    assert code == 2
    assert_one_line_error(stderr, *words)
    assert tree_hash(tmp_path / "night", run) == before
    store = ReviewStore(data_dir)
    assert [queue.name for queue in store.queues()] == ["owls"] and store.windows("owls") == []
