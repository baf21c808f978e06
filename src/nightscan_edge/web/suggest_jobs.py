"""``review suggest`` started from the Review page: a worker process per request, its state in a folder.

Scoring every window of a folder of recordings takes minutes, so the request never does it: it starts
``python -m nightscan_edge.cli review suggest ... --result result.json`` in its own session (as training jobs run)
and answers at once. The job's folder, ``<data dir>/review/suggest/<job id>/``, holds ``job.json`` (what was
asked, the PID), ``worker.log`` and, once done, ``result.json``; the status is read from them, so a page reload or
a server restart loses nothing, and the windows go into the queue through the same SQLite store as every decision.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightscan_edge.atomic import write_json_atomic
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.worker_probe import log_tail, pid_runs

JOBS_DIR = Path("review") / "suggest"
JOB_FILE, RESULT_FILE, LOG_FILE = "job.json", "result.json", "worker.log"
MARKER = "review suggest"  # on the worker's command line: a reused PID running something else is not ours


@dataclass(frozen=True)
class SuggestJob:
    """What the Review page asked for; ``run_dir`` and ``recordings`` are already confined by the router."""

    queue: str
    run_id: str
    run_dir: Path
    recordings: Path
    n: int
    by: str


def job_folder(settings: Settings, job_id: str) -> Path | None:
    """The job's folder, or None for an id that is not one of ours (a path in disguise included)."""
    if not job_id.isalnum():
        return None
    folder = settings.data_dir / JOBS_DIR / job_id
    return folder if (folder / JOB_FILE).is_file() else None


def start_suggest_job(settings: Settings, job: SuggestJob) -> str:
    """Start the worker; returns the job id."""
    job_id = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(3)
    folder = settings.data_dir / JOBS_DIR / job_id
    folder.mkdir(parents=True)
    command = list(settings.worker_command) or [sys.executable, "-m", "nightscan_edge.cli"]  # as training jobs
    argv = [
        *command,
        "review",
        "suggest",
        str(job.run_dir),
        str(job.recordings),
        "--n",
        str(job.n),
        "--by",
        job.by,
        "--queue",
        job.queue,
        "--data-dir",
        str(settings.data_dir),
        "--result",
        str(folder / RESULT_FILE),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(settings.worker_threads)}
    with open(folder / LOG_FILE, "ab") as log_file:
        child = subprocess.Popen(
            argv, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    write_json_atomic(
        folder / JOB_FILE,
        {
            "job": job_id,
            "queue": job.queue,
            "run_id": job.run_id,
            "recordings": str(job.recordings),
            "n": job.n,
            "by": job.by,
            "pid": child.pid,
            "started": time.time(),
        },
    )
    return job_id


def suggest_job_status(folder: Path) -> dict[str, Any]:
    """``running``, ``done`` (with what was queued) or ``failed`` (with the worker's one-line error)."""
    job = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
    _reap(int(job["pid"]))
    if (folder / RESULT_FILE).is_file():  # written atomically: whole or absent
        return {**job, "status": "done", **json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))}
    if pid_runs(job["pid"], MARKER):
        return {**job, "status": "running", "progress": log_tail(folder / LOG_FILE, 1)}
    tail = log_tail(folder / LOG_FILE, 40).splitlines()
    errors = [line for line in tail if line.startswith("error:")]
    reason = (
        errors[-1][len("error:") :].strip() if errors else (tail[-1] if tail else "the worker ended without a word")
    )
    return {**job, "status": "failed", "error": reason[:500]}


def _reap(pid: int) -> None:
    """Collect a finished child of this server (a zombie would look alive); another process's PID is left alone."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
