"""``serve --demo``: a ready dataset on first start, from ../shared when present, generated otherwise."""

from __future__ import annotations

import argparse

import pytest

from nightscan_edge.commands.serve import build_settings
from nightscan_edge.web import create_app, demo


def test_demo_generates_a_synthetic_set_once_when_shared_data_is_absent(settings, monkeypatch):
    monkeypatch.setattr(demo, "shared_demo_path", lambda: None)
    app = create_app(settings)
    dataset = demo.ensure_demo_dataset(settings, app.state.store, app.state.runner.worker_command())
    assert dataset["source"] == "demo" and dataset["summary"]["total"] == 12
    assert dataset["path"].startswith(str(settings.uploads_dir.resolve()))
    again = demo.ensure_demo_dataset(settings, app.state.store, app.state.runner.worker_command())
    assert again["id"] == dataset["id"] and len(app.state.store.datasets()) == 1


def test_demo_uses_shared_animal_sounds_and_allows_its_root(animal_sounds, tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "shared_demo_path", lambda: animal_sounds.resolve())
    args = argparse.Namespace(
        host=None,
        port=None,
        data_dir=tmp_path / "data",
        token=None,
        dataset_roots=None,
        max_upload_mb=None,
        max_parallel_jobs=None,
        demo=True,
    )
    settings = build_settings(args)
    assert animal_sounds.parent.resolve() in settings.roots
    app = create_app(settings)
    dataset = demo.ensure_demo_dataset(settings, app.state.store, app.state.runner.worker_command())
    assert dataset["summary"]["kind"] == "audio" and len(dataset["summary"]["classes"]) == 7


def test_serve_refuses_a_public_bind_without_token(tmp_path):
    from nightscan_edge.cli import UserError

    args = argparse.Namespace(
        host="0.0.0.0",
        port=None,
        data_dir=tmp_path,
        token=None,
        dataset_roots=None,
        max_upload_mb=None,
        max_parallel_jobs=None,
        demo=False,
    )
    with pytest.raises(UserError, match="pass --token or set NIGHTSCAN_TOKEN"):
        build_settings(args)
