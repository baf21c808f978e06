"""Worker subprocesses for training, export and benchmark jobs.

The server never trains in its own process: each job is ``python -m nightscan_edge.cli ...`` in its own
session, writing into its run folder. The runner only starts queued jobs when a slot is free, notices when
workers end, and reads the worker's own ``status.json`` to record the outcome. After a server restart,
workers that are still alive are adopted (watched by PID); runs whose worker is gone become
``interrupted`` and can be resumed from ``last.ckpt``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightscan_edge.errors import UserError
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store
from nightscan_edge.web.worker_probe import last_line, log_tail, pid_runs, read_status

log = logging.getLogger("nightscan_edge.web.jobs")

WORKER_LOG = "worker.log"
RESUMABLE = ("interrupted", "cancelled", "failed")  # run statuses a worker can continue from last.ckpt


class JobError(UserError):
    """A job request that cannot be honoured in the job's current state (worded for the user)."""


@dataclass(frozen=True)
class JobKey:
    table: str  # "runs" or "exports"
    job_id: str


class JobRunner:
    """Starts queued jobs as subprocesses, watches them, and records their end in the store."""

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self._children: dict[JobKey, subprocess.Popen[bytes]] = {}
        self._cancel_requested: set[JobKey] = set()
        self._task: asyncio.Task[None] | None = None

    # commands
    def worker_command(self) -> list[str]:
        if self.settings.worker_command:
            return list(self.settings.worker_command)
        return [sys.executable, "-m", "nightscan_edge.cli"]

    def train_argv(self, run: dict[str, Any]) -> list[str]:
        if run["resume"]:
            return [*self.worker_command(), "train", "--resume", run["run_dir"], "--no-progress"]
        argv = [
            *self.worker_command(),
            "train",
            "--run-dir",
            run["run_dir"],
            "--data",
            run["data_path"],
            "--model",
            run["model"],
        ]
        for override in run["overrides"]:
            argv += ["--set", override]
        return [*argv, "--no-progress"]

    def export_argv(self, job: dict[str, Any]) -> list[str]:
        run = self._record("runs", job["run_id"])
        options = job["options"]
        if job["kind"] == "export":
            argv = [
                *self.worker_command(),
                "export",
                run["run_dir"],
                "--formats",
                ",".join(options["formats"]),
                "--out",
                job["out_dir"],
            ]
            return argv + (["--int8"] if options.get("int8") else [])
        return [*self.worker_command(), "bench", options["artifact_dir"], "--out", job["out_dir"], "--quiet"]

    # lifecycle
    async def start(self) -> None:
        self.reconcile()
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.tick)
            except Exception:  # keep supervising other jobs; the failure is logged with its traceback
                log.exception("job runner tick failed")
            await asyncio.sleep(self.settings.job_poll_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self.settings.stop_workers_on_exit:
            await asyncio.to_thread(self._stop_workers)

    def _stop_workers(self, grace_seconds: float = 15.0) -> None:
        """SIGTERM every running worker (they save last.ckpt) and record the runs as interrupted."""
        active = self._active()
        for _key, record in active:
            self._signal(record["pid"])
        deadline = time.monotonic() + grace_seconds
        for key, record in active:
            marker = self._marker(key, record)
            while pid_runs(record["pid"], marker) and time.monotonic() < deadline:
                child = self._children.get(key)
                if child is not None and child.poll() is not None:
                    break
                time.sleep(0.1)
            self._update(
                key,
                status="interrupted",
                pid=None,
                finished=time.time(),
                error="server stopped while the job was running; resume it",
            )

    def reconcile(self) -> None:
        """On server start: adopt workers still alive, mark the others interrupted."""
        for key, record in self._active():
            if pid_runs(record["pid"], self._marker(key, record)):
                log.info("adopting live worker %s for %s", record["pid"], key.job_id)
                continue
            self._update(
                key,
                status="interrupted",
                pid=None,
                finished=time.time(),
                error="worker was gone when the server started; resume it",
            )

    def tick(self) -> None:
        """Record ended workers, then start queued jobs while slots are free."""
        running = 0
        for key, record in self._active():
            if record["status"] != "running":
                continue
            if self._still_running(key, record):
                running += 1
            else:
                self._finish(key, record)
        for key, record in self._queued():
            if running >= self.settings.max_parallel_jobs:
                break
            self._launch(key, record)
            running += 1

    # queries
    def _active(self) -> list[tuple[JobKey, dict[str, Any]]]:
        jobs = [(JobKey("runs", r["id"]), r) for r in self.store.runs(statuses=("queued", "running"))]
        jobs += [(JobKey("exports", e["id"]), e) for e in self.store.exports(statuses=("queued", "running"))]
        return sorted(jobs, key=lambda item: item[1]["created"])

    def _queued(self) -> list[tuple[JobKey, dict[str, Any]]]:
        return [(key, record) for key, record in self._active() if record["status"] == "queued"]

    def _marker(self, key: JobKey, record: dict[str, Any]) -> str:
        return str(record["run_dir"] if key.table == "runs" else record["out_dir"])

    def _record(self, table: str, job_id: str) -> dict[str, Any]:
        record = self.store.run(job_id) if table == "runs" else self.store.export(job_id)
        if record is None:
            raise JobError(f"no {'run' if table == 'runs' else 'job'} {job_id}; it was deleted or never existed")
        return record

    def _update(self, key: JobKey, **values: Any) -> None:
        (self.store.update_run if key.table == "runs" else self.store.update_export)(key.job_id, **values)

    def _log_path(self, key: JobKey, record: dict[str, Any]) -> Path:
        return Path(record["run_dir"]) / WORKER_LOG if key.table == "runs" else Path(record["log_path"])

    def _still_running(self, key: JobKey, record: dict[str, Any]) -> bool:
        child = self._children.get(key)
        if child is not None:
            return child.poll() is None
        return pid_runs(record["pid"], self._marker(key, record))

    # transitions
    def _launch(self, key: JobKey, record: dict[str, Any]) -> None:
        if key.table == "runs":
            argv = self.train_argv(record)
            Path(record["run_dir"]).mkdir(parents=True, exist_ok=True)
        else:
            argv = self.export_argv(record)
            Path(record["out_dir"]).parent.mkdir(parents=True, exist_ok=True)
        log_path = self._log_path(key, record)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": str(self.settings.worker_threads),
            "MKL_NUM_THREADS": str(self.settings.worker_threads),
        }
        with open(log_path, "ab") as log_file:
            log_file.write(f"$ {' '.join(argv)}\n".encode())
            log_file.flush()
            child = subprocess.Popen(
                argv,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self._children[key] = child
        self._update(key, status="running", pid=child.pid, started=time.time(), finished=None, error=None)
        log.info("started %s %s as pid %s", key.table, key.job_id, child.pid)

    def _finish(self, key: JobKey, record: dict[str, Any]) -> None:
        child = self._children.pop(key, None)
        exit_code = child.returncode if child is not None else None
        cancelled = key in self._cancel_requested
        self._cancel_requested.discard(key)
        tail = log_tail(self._log_path(key, record), lines=5)
        if key.table == "runs":
            status = read_status(Path(record["run_dir"])).get("status")
            if status not in ("done", "failed", "cancelled"):
                status = "cancelled" if cancelled else "failed"
            error = (
                None
                if status in ("done", "cancelled")
                else (
                    read_status(Path(record["run_dir"])).get("error")
                    or last_line(tail)
                    or f"worker exited with code {exit_code}"
                )
            )
        else:
            if cancelled:
                status, error = "cancelled", None
            elif exit_code == 0 or (exit_code is None and Path(record["out_dir"]).is_dir()):
                status, error = "done", None
            else:
                status, error = "failed", last_line(tail) or f"worker exited with code {exit_code}"
        self._update(key, status=status, pid=None, finished=time.time(), error=error)
        log.info("%s %s ended: %s", key.table, key.job_id, status)

    def _signal(self, pid: int | None, sig: int = signal.SIGTERM) -> None:
        if not pid:
            return
        try:
            os.killpg(pid, sig)  # the worker leads its own session: reach its data-loader children too
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def cancel(self, table: str, job_id: str) -> None:
        key = JobKey(table, job_id)
        record = self._record(table, job_id)
        if record["status"] == "queued":
            self._update(key, status="cancelled", finished=time.time())
        elif record["status"] == "running":
            self._cancel_requested.add(key)
            self._signal(record["pid"])
        else:
            raise JobError(f"{job_id} is {record['status']}; only queued or running jobs can be cancelled")

    def resume(self, run_id: str) -> None:
        run = self._record("runs", run_id)

        if run["status"] not in RESUMABLE:
            raise JobError(f"run {run_id} is {run['status']}; only interrupted, cancelled or failed runs resume")
        if not RunFolder(run["run_dir"]).last_checkpoint.is_file():
            raise JobError(f"run {run_id} has no last.ckpt to resume from; start a new run instead")
        self.store.update_run(run_id, status="queued", resume=1, finished=None, error=None)
