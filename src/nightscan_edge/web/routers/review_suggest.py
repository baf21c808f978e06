"""The Review page's "Suggest windows" button: ``review suggest`` into a queue, run as a worker process.

``POST /api/review/{queue}/suggest`` checks what it can at once (the queue, the run, the recordings folder inside the
allowed roots, the run's kind and labels against the queue's) and answers 202 with a job id; the worker scores the
recordings and queues the least sure windows. ``GET /api/review/{queue}/suggest/{job}`` says ``running``, ``done``
(with how many windows were queued) or ``failed`` (with the worker's one-line reason).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from nightscan_edge.errors import UserError
from nightscan_edge.paths import PathPolicyError, confine
from nightscan_edge.predict.suggest import media_files
from nightscan_edge.review import ReviewError
from nightscan_edge.review.suggest import check_queue_fits
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.spec import spec_from_dict
from nightscan_edge.web.deps import SettingsDep, StoreDep, get_run_or_404
from nightscan_edge.web.routers.review import ReviewDep, review_roots
from nightscan_edge.web.suggest_jobs import SuggestJob, job_folder, start_suggest_job, suggest_job_status

router = APIRouter(tags=["review"])


class SuggestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(description="a finished run of this server whose model picks the windows")
    recordings: str = Field(description="folder of unlabelled recordings (photos for a photo run) on the server")
    n: int = Field(50, ge=1, le=2000, description="windows to queue")
    by: Literal["margin", "entropy"] = "margin"


@router.post("/api/review/{queue}/suggest", status_code=202)
def suggest_windows(
    queue: str, body: SuggestRequest, review: ReviewDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    run = get_run_or_404(store, body.run_id)
    folder = RunFolder(run["run_dir"])
    try:
        info = review.queue(queue)
        recordings = confine(body.recordings, review_roots(settings), "recordings", must_exist=True)
        meta = folder.read_checkpoint_metadata()  # labels and spec as the weights were trained with
        spec = spec_from_dict(meta["spec"])
        check_queue_fits(info, body.run_id, spec.kind, list(meta.get("labels") or []))
        media_files(recordings, spec.kind)
    except ReviewError as error:
        raise HTTPException(error.http_status, str(error)) from None
    except PathPolicyError as error:
        raise HTTPException(403, f"{error}; start the server with --dataset-root covering it") from None
    except (UserError, OSError) as error:  # the run has no checkpoint yet; the folder holds no recordings
        raise HTTPException(422, str(error)) from None
    job = SuggestJob(queue, body.run_id, folder.path, recordings, body.n, body.by)
    job_id = start_suggest_job(settings, job)
    return {"job": job_id, "status": "running", "status_url": f"/api/review/{queue}/suggest/{job_id}"}


@router.get("/api/review/{queue}/suggest/{job_id}")
def suggest_status(queue: str, job_id: str, settings: SettingsDep) -> dict[str, Any]:
    folder = job_folder(settings, job_id)
    if folder is None:
        raise HTTPException(404, f"no suggest job {job_id!r}")
    status = suggest_job_status(folder)
    if status.get("queue") != queue:
        raise HTTPException(404, f"suggest job {job_id} belongs to queue {status.get('queue')}, not {queue}")
    return status
