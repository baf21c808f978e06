"""The ground floor: error roots, atomic writes and the run folder's writer lock."""

from __future__ import annotations

import json
import math
import multiprocessing
import os

import pytest

from nightscan_edge.atomic import write_json_atomic, write_text_atomic
from nightscan_edge.checkpoint import CheckpointError
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data.errors import DataError
from nightscan_edge.errors import NightScanError, RunLockedError, UserError
from nightscan_edge.registry import UnknownNameError
from nightscan_edge.run_folder import RunFolder


@pytest.mark.parametrize("error_type", [ConfigError, CheckpointError, DataError, UnknownNameError, RunLockedError])
def test_user_errors_share_one_root(error_type):
    assert issubclass(error_type, UserError) and issubclass(error_type, NightScanError)


def test_atomic_write_leaves_no_temporary_and_refuses_nan(tmp_path):
    target = tmp_path / "sub" / "report.json"
    write_json_atomic(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    with pytest.raises(ValueError):
        write_json_atomic(target, {"a": math.nan})
    assert json.loads(target.read_text()) == {"a": 1}, "a failed write must keep the previous file"
    write_text_atomic(target, "x")
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]


def test_run_folder_names_and_readers(tmp_path):
    run = RunFolder(tmp_path)
    assert run.config.name == "config.yaml" and run.split.name == "split.csv"
    assert not run.holds_run() and run.read_status() == {} and run.read_report() is None
    run.write_labels(["owl", "frog"])
    assert run.read_labels() == ["owl", "frog"]
    run.write_report({"macro_f1": 0.5})
    assert run.read_report() == {"macro_f1": 0.5}
    run.events.write_text("")
    assert run.holds_run()


def _hold_lock(path, ready, release):
    with RunFolder(path).lock():
        ready.set()
        release.wait(30)


def test_second_writer_is_refused_with_the_holders_pid(tmp_path):
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(RunLockedError, match=f"PID {holder.pid}") as caught:
            with RunFolder(tmp_path).lock():
                pass
        assert "\n" not in str(caught.value)
    finally:
        release.set()
        holder.join(30)
    with RunFolder(tmp_path).lock():  # released when the holder exits
        assert (tmp_path / "run.lock").read_text() == str(os.getpid())
