"""``--workers N``: N trials at once, each in its own Dask worker process, all on one study storage.

The same Dask set-up ``predict --engine dask`` uses (``distributed.LocalCluster`` of processes, one thread
each; the archive extra). Each worker opens the storage itself and runs ``Study.optimize`` for its share of
the trials: the storage hands out trial numbers (and so run folders) one at a time, so no trial runs twice and
no folder is shared; a worker whose trial crashes records it and goes on. Worker processes are not daemons,
so the exporters may start their own processes.
"""

from __future__ import annotations

from collections.abc import Callable

import dask
import optuna
from distributed import Client, LocalCluster, as_completed

from nightscan_edge.tune.storage import open_storage
from nightscan_edge.tune.trial import StudyPlan

# (plan, trials for this worker or None until the timeout, timeout in seconds or None) -> trials run
WorkerTask = Callable[[StudyPlan, int | None, float | None], int]


def split_trials(total: int | None, workers: int) -> list[int | None]:
    """``total`` trials shared as evenly as possible (None: each worker runs until the timeout)."""
    if total is None:
        return [None] * workers
    return [total // workers + (1 if index < total % workers else 0) for index in range(workers)]


def run_on_workers(plan: StudyPlan, task: WorkerTask, workers: int, total: int | None, timeout_s: float | None) -> int:
    """Run ``task`` for each worker's share on a local cluster of ``workers`` processes; trials run in all."""
    shares = [share for share in split_trials(total, workers) if share != 0]
    if not shares:
        return 0
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = LocalCluster(
            n_workers=len(shares), threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
    try:
        with Client(cluster) as client:
            futures = [
                client.submit(task, plan, share, timeout_s, pure=False, key=f"tune-{plan.name}-worker-{index}")
                for index, share in enumerate(shares)
            ]
            ran = 0
            for future in as_completed(futures):
                ran += int(future.result())  # a worker's own error (not a trial's) surfaces here
            return ran
    finally:
        cluster.close()


def storage_for(plan: StudyPlan) -> optuna.storages.BaseStorage:
    return open_storage(plan.storage_url)
