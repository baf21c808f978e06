"""The CLI half of the bad-input corpus: each case exits with its code, prints ONE ``error:`` line naming the
problem, and leaves what was already written (data set, run folder, export) byte-for-byte as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from nightscan_edge.data.sources import list_dataset
from tests.corpus.conftest import assert_one_line_error, tree_hash
from tests.predict.conftest import export_tiny_onnx

NON_UTF8 = os.fsdecode(b"caf\xe9-\xff.wav")  # a Latin-1 name: not valid UTF-8


def _copy_set(source: Path, target: Path, manifest_rows: list[str] | None = None) -> Path:
    for wav in sorted(source.rglob("*.wav")):
        (target / wav.parent.name).mkdir(parents=True, exist_ok=True)
        (target / wav.parent.name / wav.name).write_bytes(wav.read_bytes())
    if manifest_rows is not None:
        (target / "manifest.csv").write_text("path,label\n" + "\n".join(manifest_rows) + "\n")
    return target


def _rows(folder: Path) -> list[str]:
    return [f"{p.relative_to(folder)},{p.parent.name}" for p in sorted(folder.rglob("*.wav"))]


# --- config, YAML and --set ------------------------------------------------------------------------------
CONFIG_FILES = {
    "yaml_syntax": (b"train:\n  lr: [0.1\n", "not valid YAML"),
    "yaml_binary": (b"\xff\xfe\x00\x01\x89PNG\x00\x00", "not UTF-8"),
    "yaml_nul": (b"train:\n  lr: 0.1\x00\n", "NUL"),
    "yaml_list": (b"- train\n- data\n", "mapping"),
    "yaml_section_scalar": (b"data: x\n", "section 'data' must be a mapping"),
    "yaml_unknown_section": (b"trian:\n  lr: 0.1\n", "trian"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_FILES))
def test_bad_config_file(case, corpus_audio, tmp_path, cli):
    content, words = CONFIG_FILES[case]
    config = tmp_path / "config.yaml"
    config.write_bytes(content)
    before = tree_hash(corpus_audio)
    code, stderr = cli("train", "--data", corpus_audio, "--config", config, "--run-dir", tmp_path / "run")
    assert code == 2
    assert_one_line_error(stderr, words)
    assert not (tmp_path / "run").exists()
    assert tree_hash(corpus_audio) == before


SET_OVERRIDES = {
    "whole_section": ("model=foo", "not a whole section"),
    "inf_lr": ("train.lr=.inf", "train.lr"),
    "nan_lr": ("train.lr=.nan", "train.lr"),
    "broken_value": ("train.lr=[", "not valid YAML"),
    "empty_key": ("=1", "section.key"),
    "unknown_duplicates_mode": ("data.duplicates=maybe", "data.duplicates"),
    "unknown_option": ("train.lrr=0.1", "train.lrr"),
    "no_equals": ("train.lr", "section.key=value"),
    "bad_model_option_value": ("model.options.dropout=lots", "model.options of ultralight_audio"),
    "unknown_model_option": ("model.options.nonsense=1", "model.options of ultralight_audio"),
    "ema_decay_of_one": ("train.ema_decay=1", "train.ema_decay"),
    "negative_ema_decay": ("train.ema_decay=-0.5", "train.ema_decay"),
}


@pytest.mark.parametrize("case", sorted(SET_OVERRIDES))
def test_bad_set_override(case, corpus_audio, tmp_path, cli):
    override, words = SET_OVERRIDES[case]
    code, stderr = cli("train", "--data", corpus_audio, "--set", override, "--run-dir", tmp_path / "run")
    assert code == 2
    assert_one_line_error(stderr, words)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "content, words",
    [(b"\xff\xfe\x00binary", "not UTF-8"), (b"max_mb: [3\n", "not valid YAML"), (b"max_mb: 3\x00\n", "NUL")],
    ids=["binary", "syntax", "nul"],
)
def test_bad_budget_file(content, words, tiny_run, tmp_path, cli):
    budget = tmp_path / "budget.yaml"
    budget.write_bytes(content)
    before = tree_hash(tiny_run)
    code, stderr = cli("check", tiny_run, "--budget", budget)
    assert code == 2
    assert_one_line_error(stderr, words)
    assert tree_hash(tiny_run) == before


# --- manifests -------------------------------------------------------------------------------------------
def _manifest_case(kind: str, corpus_audio: Path, root: Path) -> Path:
    folder = _copy_set(corpus_audio, root / "set")
    rows = _rows(folder)
    if kind == "duplicate":
        rows.append(rows[0])
    elif kind == "conflicting":
        path, label = rows[0].split(",")
        rows.append(f"{path},{'other' if label != 'other' else 'x'}")
    (folder / "manifest.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    if kind == "binary":
        (folder / "manifest.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    elif kind == "nul":
        (folder / "manifest.csv").write_bytes(b"path,label\na.wav\x00,owl\n")
    elif kind == "no_columns":
        (folder / "manifest.csv").write_text("file,class\na.wav,owl\n")
    return folder


MANIFESTS = {
    "duplicate": "1 duplicate path",
    "conflicting": "conflicting labels",
    "binary": "not UTF-8",
    "nul": "NUL byte",
    "no_columns": "missing column",
}


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_bad_manifest_is_refused_with_the_list(kind, corpus_audio, tmp_path, cli):
    folder = _manifest_case(kind, corpus_audio, tmp_path)
    before = tree_hash(folder)
    code, stderr = cli("train", "--data", folder, "--model", "ultralight_audio", "--run-dir", tmp_path / "run")
    assert code == 2
    line = assert_one_line_error(stderr, MANIFESTS[kind])
    if kind in ("duplicate", "conflicting"):
        assert "data.duplicates=keep-first" in line
    assert tree_hash(folder) == before


def test_keep_first_keeps_the_first_row_and_reports_the_rest(corpus_audio, tmp_path):
    folder = _manifest_case("conflicting", corpus_audio, tmp_path)
    listing = list_dataset(folder, duplicates="keep-first")
    first = _rows(folder)[0].split(",")
    kept = [s for s in listing.samples if s.path == folder / first[0]]
    assert [s.label for s in kept] == [first[1]]
    assert len(listing.dropped) == 1 and "conflicting label" in listing.dropped[0][1]


def test_inspect_lists_dangling_links_and_wrong_kind_files_with_a_reason(corpus_audio, tmp_path, cli):
    folder = _copy_set(corpus_audio, tmp_path / "set")
    label = sorted(p.name for p in folder.iterdir())[0]
    (folder / label / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    (folder / label / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    code, _ = cli("data", "inspect", folder, "--json")
    assert code == 0
    reasons = {Path(b["path"]).name: b["reason"] for b in json.loads(cli.stdout)["bad_files"]}
    assert reasons["gone.wav"].startswith("dangling symbolic link")
    assert reasons["photo.jpg"] == "image file in an audio data set"


# --- run folders: one writer, finished runs, what a resume needs ---------------------------------------------
def _hold_lock(folder: Path) -> subprocess.Popen:
    code = (
        "import sys, time\nfrom nightscan_edge.run_folder import RunFolder\n"
        "lock = RunFolder(sys.argv[1]).lock(); lock.__enter__(); print('locked', flush=True); time.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _interrupted(run: Path) -> Path:
    """Make a finished run copy look interrupted (no report, status cancelled): the resumable kind."""
    status = json.loads((run / "status.json").read_text())
    (run / "report.json").unlink()
    (run / "status.json").write_text(json.dumps({**status, "status": "cancelled"}))
    return run


def test_resume_while_another_process_writes_is_refused_naming_its_pid(run_copy, cli):
    run = _interrupted(run_copy)
    holder = _hold_lock(run)
    try:
        before = tree_hash(run)
        code, stderr = cli("train", "--resume", run, "--no-progress")
        assert code == 2
        assert_one_line_error(stderr, f"PID {holder.pid}", "being written")
        assert tree_hash(run) == before
    finally:
        holder.kill()
        holder.wait()


def test_second_start_on_the_same_run_folder_is_refused_naming_its_pid(corpus_audio, tmp_path, cli):
    run = tmp_path / "twin"
    holder = _hold_lock(run)
    try:
        before = tree_hash(run)
        code, stderr = cli("train", "--data", corpus_audio, "--model", "ultralight_audio", "--run-dir", run)
        assert code == 2
        assert_one_line_error(stderr, f"PID {holder.pid}")
        assert tree_hash(run) == before
    finally:
        holder.kill()
        holder.wait()


def test_resume_of_a_finished_run_says_so_and_changes_nothing(run_copy, cli):
    before = tree_hash(run_copy)
    code, stderr = cli("train", "--resume", run_copy, "--no-progress")
    assert code == 2
    assert_one_line_error(stderr, "is finished", "nothing to resume")
    assert tree_hash(run_copy) == before


@pytest.mark.parametrize("missing", ["last.ckpt", "config.yaml"])
def test_resume_without_its_resume_point_is_refused(missing, run_copy, cli):
    run = _interrupted(run_copy)
    (run / missing).unlink()
    before = tree_hash(run)
    code, stderr = cli("train", "--resume", run, "--no-progress")
    assert code == 2
    assert_one_line_error(stderr, "cannot resume", missing)
    assert tree_hash(run) == before


def test_new_run_into_a_folder_holding_a_run_is_refused(run_copy, corpus_audio, cli):
    before = tree_hash(run_copy)
    code, stderr = cli("train", "--data", corpus_audio, "--model", "ultralight_audio", "--run-dir", run_copy)
    assert code == 2
    assert_one_line_error(stderr, "already holds a run")
    assert tree_hash(run_copy) == before


def test_a_killed_writer_leaves_no_stale_lock(run_copy):
    from nightscan_edge.run_folder import RunFolder

    holder = _hold_lock(run_copy)
    holder.kill()
    holder.wait()
    with RunFolder(run_copy).lock():  # the kernel dropped the dead holder's lock
        assert (run_copy / "run.lock").read_text() == str(os.getpid())


# --- predict -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_onnx(tiny_run, tmp_path_factory) -> Path:
    pytest.importorskip("onnxruntime")
    return export_tiny_onnx(tiny_run, tmp_path_factory.mktemp("onnx"))


def _edited_artifact(tiny_onnx: Path, tmp_path: Path, edit) -> Path:
    from nightscan_edge.export.manifest import embed_onnx
    from nightscan_edge.runtime import load_runner

    copy = tmp_path / "edited.onnx"
    copy.write_bytes(tiny_onnx.read_bytes())
    manifest = json.loads(json.dumps(load_runner(copy).manifest))
    edit(manifest)
    embed_onnx(copy, manifest)
    return copy


def _nan_wav(path: Path, sample_rate: int = 8000) -> Path:
    samples = np.sin(np.linspace(0, 200, sample_rate)).astype(np.float32)
    samples[100:200] = np.nan
    soundfile.write(str(path), samples, sample_rate, subtype="FLOAT")
    return path


def test_predict_out_folder_is_refused(tiny_onnx, corpus_audio, tmp_path, cli):
    out = tmp_path / "results"
    out.mkdir()
    code, stderr = cli("predict", tiny_onnx, sorted(corpus_audio.rglob("*.wav"))[0], "--out", out)
    assert code == 2
    assert_one_line_error(stderr, "is a folder")
    assert list(out.iterdir()) == []


def test_predict_batch_with_odd_files_gives_one_row_each_and_a_whole_csv(tiny_onnx, corpus_audio, tmp_path, cli):
    good = sorted(corpus_audio.rglob("*.wav"))[0]
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / NON_UTF8).write_bytes(good.read_bytes())
    _nan_wav(batch / "nan.wav")
    (batch / "dangling.wav").symlink_to(tmp_path / "gone.wav")
    (batch / "empty.wav").write_bytes(b"")
    out = tmp_path / "detections.csv"
    code, stderr = cli("predict", tiny_onnx, batch, good, "--out", out)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    text = out.read_text(encoding="utf-8")
    rows = {line.split(",")[0]: line for line in text.splitlines()[1:]}
    assert any("caf\\xe9-\\xff.wav" in name and "nan" not in rows[name].split(",")[4] for name in rows)
    for name, reason in (("nan.wav", "NaN or infinite samples"), ("empty.wav", "empty"), ("dangling.wav", "exist")):
        row = next((line for key, line in rows.items() if key.endswith(name)), text)
        assert reason in row, row
    assert not list(tmp_path.glob(".detections.csv.*"))  # no temporary left behind


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda m: m["labels"].append("extra"), "labels but the model gives"),
        (lambda m: m["input"]["spec"].update(clip_samples=m["input"]["spec"]["clip_samples"] * 2), "does not take"),
        (lambda m: m["input"]["spec"].update(sample_rate=16000), "differs from the one inside the model"),
        (lambda m: m["input"]["spec"].update(f_max=3000.0), "differs from the one inside the model"),
    ],
    ids=["labels_count", "clip_samples", "sample_rate", "f_max"],
)
def test_edited_artifact_manifest_is_refused_in_one_line(edit, words, tiny_onnx, corpus_audio, tmp_path, cli):
    artifact = _edited_artifact(tiny_onnx, tmp_path, edit)
    out = tmp_path / "detections.csv"
    code, stderr = cli("predict", artifact, sorted(corpus_audio.rglob("*.wav"))[0], "--out", out)
    assert code == 2
    assert_one_line_error(stderr, words)
    assert not out.exists()


# --- training data with odd names and values -------------------------------------------------------------
def test_non_utf8_file_name_trains_and_resumes_from_its_split(corpus_audio, tmp_path):
    from nightscan_edge.data.prepare import prepare_data
    from nightscan_edge.data.splits import read_split, write_split
    from tests.train.conftest import tiny_audio_config

    folder = _copy_set(corpus_audio, tmp_path / "set")
    label = sorted(p.name for p in folder.iterdir())[0]
    source = next((folder / label).glob("*.wav"))
    source.rename(folder / label / NON_UTF8)
    config = tiny_audio_config(folder, epochs=1)
    prepared = prepare_data(
        config.model_copy(
            update={"data": config.data.model_copy(update={"cache": "disk", "cache_dir": str(tmp_path / "cache")})}
        )
    )
    assert not prepared.bad_files
    assert any(p.name == NON_UTF8 for split in prepared.splits.values() for p in split.paths)
    write_split(prepared.plan, tmp_path / "split.csv")
    assert {e.path for e in read_split(tmp_path / "split.csv").entries} == {e.path for e in prepared.plan.entries}


@pytest.mark.slow
def test_diverging_loss_fails_the_run_without_a_nan_best_checkpoint(corpus_audio, tmp_path, cli):
    run = tmp_path / "diverged"
    started = time.perf_counter()
    code, stderr = cli(
        "train",
        "--data",
        corpus_audio,
        "--model",
        "ultralight_audio",
        "--run-dir",
        run,
        "--epochs",
        "2",
        "--set",
        "train.lr=1e30",
        "--set",
        "train.optimizer=sgd",
        "--set",
        "train.early_stopping_patience=null",
        "--set",
        "model.audio={clip_samples: 4096, n_fft: 256, hop_length: 128, n_mels: 16}",
        "--no-progress",
    )
    assert code == 2, stderr
    assert_one_line_error(stderr, "loss became", "train.lr")
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and "loss became" in status["error"]
    for line in (run / "events.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda token: pytest.fail(f"{token} in events.jsonl"))
    assert not (run / "best.ckpt").exists() or "nan" not in (run / "metrics.csv").read_text().lower()
    assert time.perf_counter() - started < 120


def test_resume_of_a_run_killed_after_its_report_only_records_the_end(run_copy, cli):
    """kill -9 between report.json and the final status (found by benchmarks/faults.py): the resume finishes
    the bookkeeping from what is on disk; the report and the metrics stay byte-for-byte as they were."""
    done = json.loads((run_copy / "status.json").read_text())
    (run_copy / "status.json").write_text(json.dumps({**done, "status": "running"}))
    (run_copy / ".status.json.k1ll3d.tmp").write_text('{"status": "runn')  # killed inside an atomic write
    before = tree_hash(run_copy / "report.json", run_copy / "metrics.csv", run_copy / "best.ckpt")
    code, stderr = cli("train", "--resume", run_copy, "--no-progress")
    assert code == 0, stderr
    assert not list(run_copy.glob(".*.tmp"))  # the resume, the folder's one writer, removed the leftover
    status = json.loads((run_copy / "status.json").read_text())
    assert status["status"] == "done" and status["best_val_acc"] == done["best_val_acc"]
    assert status["best_epoch"] == done["best_epoch"]
    assert tree_hash(run_copy / "report.json", run_copy / "metrics.csv", run_copy / "best.ckpt") == before
    code, stderr = cli("train", "--resume", run_copy, "--no-progress")
    assert code == 2 and "is finished" in stderr


@pytest.mark.slow
def test_a_whole_recording_in_a_class_folder_is_named_in_one_warning_line(tmp_path):
    """A user dropped a long night recording among a class's short calls: ``train`` works and says so in one line
    (on stderr, as ``WARNING ...``), naming the file and what to do with it."""
    import yaml

    from tests.conftest import write_set_with_a_long_clip
    from tests.train.conftest import TINY_AUDIO, TINY_ULTRALIGHT

    folder, night = write_set_with_a_long_clip(tmp_path / "set")
    before = tree_hash(folder)
    config = tmp_path / "tiny.yaml"
    model = {"name": "ultralight_audio", "audio": TINY_AUDIO, "options": TINY_ULTRALIGHT}
    config.write_text(yaml.safe_dump({"model": model, "train": {"batch_size": 8, "min_steps_per_epoch": 0}}))
    command = [sys.executable, "-m", "nightscan_edge.cli", "train", "--data", str(folder), "--config", str(config)]
    command += ["--epochs", "1", "--run-dir", str(tmp_path / "run"), "--no-progress"]
    source = Path(list_dataset.__code__.co_filename).parents[2]  # the package under test
    env = {**os.environ, "PYTHONPATH": str(source), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "far longer" in line]
    assert len(lines) == 1 and lines[0].startswith("WARNING 1 clip(s) far longer"), result.stderr
    assert f"{night.name} is 1.5 min" in lines[0] and "review" in lines[0]
    assert tree_hash(folder) == before  # the data set is only read
