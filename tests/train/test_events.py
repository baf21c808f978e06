"""Typed events serialise to the documented JSONL records."""

from __future__ import annotations

from nightscan_edge.train.events import BatchEnd, EpochEnd, EventLog, Log, RunEnd, RunStart, read_events, write_status


def test_events_round_trip_with_type_and_time(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    log.write(RunStart("r1", "ultralight_audio", ["a", "b"], 3, 5, None))
    log.write(BatchEnd(0, 1, 5, 0.7, 120.0))
    log.write(EpochEnd(0, 3, 0.7, 0.5, 0.6, 0.55, 0.5, 1e-3, 2.0))
    log.write(Log("warning", "skipped 1 file"))
    log.write(RunEnd("done", 0.55, 0, error="ignored unless failed"))
    events = read_events(tmp_path / "events.jsonl")
    assert [e["type"] for e in events] == ["run_start", "batch_end", "epoch_end", "log", "run_end"]
    assert all(isinstance(e["time"], float) for e in events)
    assert events[0]["batches_per_epoch"] == 5 and events[0]["resumed_from_epoch"] is None
    assert set(events[2]) == {
        "type",
        "time",
        "epoch",
        "epochs",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "val_macro_f1",
        "lr",
        "seconds",
    }
    assert "error" not in events[4]
    log.write(RunEnd("failed", None, None, error="boom"))
    assert read_events(tmp_path / "events.jsonl")[-1]["error"] == "boom"
    with (tmp_path / "events.jsonl").open("a") as handle:
        handle.write('{"type": "batch_e')  # a line being written while the web reads is skipped
    assert len(read_events(tmp_path / "events.jsonl")) == 6


def test_status_is_replaced_atomically(tmp_path):
    write_status(tmp_path, "running", epoch=1)
    write_status(tmp_path, "done", epoch=2)
    import json

    assert json.loads((tmp_path / "status.json").read_text())["status"] == "done"
    assert not list(tmp_path.glob("*.tmp"))
