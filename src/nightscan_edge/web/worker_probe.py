"""How the server looks at a worker from outside: its ``status.json``, its log, and whether its PID runs.

``nightscan_edge.web.jobs`` decides what to do with a job; these read-only probes are shared with the run
and export pages, which show a worker's state without going through the runner.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nightscan_edge.run_folder import RunFolder


def read_status(run_dir: Path) -> dict[str, Any]:
    """The worker's own ``status.json`` (``{}`` when it has not written one yet or it is half-written)."""
    return RunFolder(run_dir).read_status()


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16384))
            return "\n".join(handle.read().decode("utf-8", "replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def pid_runs(pid: int | None, marker: str) -> bool:
    """True if ``pid`` is alive and its command line mentions ``marker`` (guards against PID reuse)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.split(")")[-1].split()[0] == "Z":  # a zombie has finished
            return False
        return marker in text
    return True


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""
