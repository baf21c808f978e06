"""The bad-input corpus's shared pieces: a tiny trained run, hostile files, and the three checks every case
makes -- the exit code or HTTP status, ONE line naming the problem, and nothing already written changed."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import torch

from nightscan_edge.data import write_synthetic_dataset
from nightscan_edge.train import train
from tests.train.conftest import tiny_audio_config


def tree_hash(*paths: Path) -> str:
    """One digest of every file name, symlink target and file content under ``paths`` (absent paths count)."""
    digest = hashlib.sha256()
    for root in paths:
        root = Path(root)
        digest.update(os.fsencode(root) + b"\0")
        if not root.exists() and not root.is_symlink():
            digest.update(b"<absent>")
            continue
        entries = [root] if not root.is_dir() else sorted(root.rglob("*"), key=lambda p: os.fsencode(p))
        for entry in entries:
            digest.update(os.fsencode(entry.relative_to(root) if entry != root else entry.name) + b"\0")
            if entry.is_symlink():
                digest.update(b"L" + os.fsencode(os.readlink(entry)))
            elif entry.is_file():
                digest.update(b"F" + entry.read_bytes())
    return digest.hexdigest()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_line_error(stderr: str, *words: str) -> str:
    """Exactly one ``error: ...`` line, no traceback, naming each of ``words`` (case-insensitive)."""
    assert "Traceback" not in stderr, stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])
    return lines[0]


def assert_one_line_detail(response, status: int, *words: str) -> str:
    """HTTP ``status`` with a one-line ``detail`` (or ``detail.message``) naming each of ``words``."""
    assert response.status_code == status, (response.status_code, response.text)
    try:
        detail = response.json()["detail"]
    except ValueError:
        detail = response.text
    text = detail["message"] if isinstance(detail, dict) else detail
    assert isinstance(text, str) and "\n" not in text.strip() and "Traceback" not in text, detail
    for word in words:
        assert word.lower() in text.lower(), (word, text)
    return text


class Evil:
    """A pickle payload: unpickling it runs ``touch MARKER`` (what a crafted checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write_evil_checkpoint(path: Path, marker: Path, template: dict | None = None) -> Path:
    """A ``.ckpt`` shaped like a real one whose metadata is a pickled ``os.system`` call."""
    payload = dict(template or {"state_dict": {}, "epoch": 0})
    payload["nightscan"] = Evil(marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


@pytest.fixture(scope="session")
def corpus_audio(tmp_path_factory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("corpus") / "audio", per_class=6, seed=3)


@pytest.fixture(scope="session")
def tiny_run(corpus_audio, tmp_path_factory) -> Path:
    """One finished 1-epoch run (tiny spectrogram and network): the target of resume/export/predict cases."""
    run = train(
        tiny_audio_config(corpus_audio, epochs=1), run_dir=tmp_path_factory.mktemp("runs") / "tiny", progress=False
    )
    return run.run_dir


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    """A private copy of the tiny run that a case may damage."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


@pytest.fixture
def cli(capsys):
    """Run ``nightscan-edge ARGS`` in this process; returns (exit code, stderr)."""
    from nightscan_edge.cli import main

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:  # argparse errors
            code = exit_.code
        captured = capsys.readouterr()
        run.stdout = captured.out
        return code, captured.err

    return run
