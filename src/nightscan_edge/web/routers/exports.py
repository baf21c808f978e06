"""Export and benchmark jobs for a finished run, and downloads of every artifact (bundle.zip included)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from nightscan_edge.run_folder import RunFolder
from nightscan_edge.web.deps import RunnerDep, StoreDep, export_format_choices, get_run_or_404
from nightscan_edge.web.files import download, list_files
from nightscan_edge.web.jobs import JobError
from nightscan_edge.web.results import export_results
from nightscan_edge.web.store import Store
from nightscan_edge.web.worker_probe import log_tail

router = APIRouter(tags=["exports"])


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field (say an output path) is refused, not ignored

    formats: list[str] = Field(default_factory=lambda: ["onnx"])
    int8: bool = False


def get_export_or_404(store: Store, export_id: str) -> dict[str, Any]:
    job = store.export(export_id)
    if job is None:
        raise HTTPException(404, f"unknown export {export_id!r}")
    return job


def create_export(store: Store, run: dict[str, Any], formats: list[str], int8: bool) -> dict[str, Any]:
    known = export_format_choices()
    unknown = [f for f in formats if f not in known]
    if not formats or unknown:
        raise HTTPException(
            422, f"choose formats among {', '.join(known)}" + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    if run["status"] != "done" or not RunFolder(run["run_dir"]).best_checkpoint.is_file():
        raise HTTPException(409, f"run {run['id']} is {run['status']}; only a finished run with best.ckpt exports")
    export_id = f"export-{secrets.token_hex(3)}"
    exports_dir = RunFolder(run["run_dir"]).exports_dir
    return store.add_export(
        export_id,
        run["id"],
        "export",
        {"formats": formats, "int8": int8},
        str(exports_dir / export_id),
        str(exports_dir / f"{export_id}.log"),
    )


def create_bench(store: Store, export: dict[str, Any]) -> dict[str, Any]:
    if export["kind"] != "export" or export["status"] != "done":
        raise HTTPException(409, f"{export['id']} is {export['status']}; benchmark a finished export")
    run = get_run_or_404(store, export["run_id"])
    bench_id = f"bench-{secrets.token_hex(3)}"
    bench_dir = Path(run["run_dir"]) / "bench"
    return store.add_export(
        bench_id,
        run["id"],
        "bench",
        {"artifact_dir": export["out_dir"], "export_id": export["id"]},
        str(bench_dir / bench_id),
        str(bench_dir / f"{bench_id}.log"),
    )


def export_view(job: dict[str, Any], store: Store | None = None) -> dict[str, Any]:
    """The job with its files; a finished export also carries its results table (with the figures of its
    latest finished benchmark, whose id is ``bench_id``)."""
    view = {**job, "files": list_files(Path(job["out_dir"]))}
    if job["status"] == "failed":
        view["log_tail"] = log_tail(Path(job["log_path"]), lines=15)
    if job["kind"] == "export" and job["status"] == "done" and store is not None:
        benches = [
            b
            for b in store.exports(run_id=job["run_id"], statuses=("done",))
            if b["kind"] == "bench" and b["options"].get("export_id") == job["id"]
        ]
        bench = benches[-1] if benches else None
        view["bench_id"] = bench["id"] if bench else None
        view["results"] = export_results(Path(job["out_dir"]), Path(bench["out_dir"]) if bench else None)
    return view


# JSON API
@router.post("/api/runs/{run_id}/exports", status_code=201)
def api_create_export(run_id: str, body: ExportRequest, store: StoreDep) -> dict[str, Any]:
    return create_export(store, get_run_or_404(store, run_id), body.formats, body.int8)


@router.get("/api/runs/{run_id}/exports")
def api_list_exports(run_id: str, store: StoreDep) -> list[dict[str, Any]]:
    get_run_or_404(store, run_id)
    return [export_view(job, store) for job in store.exports(run_id=run_id)]


@router.get("/api/exports/{export_id}")
def api_get_export(export_id: str, store: StoreDep) -> dict[str, Any]:
    return export_view(get_export_or_404(store, export_id), store)


@router.post("/api/exports/{export_id}/bench", status_code=201)
def api_bench(export_id: str, store: StoreDep) -> dict[str, Any]:
    return create_bench(store, get_export_or_404(store, export_id))


@router.post("/api/exports/{export_id}/cancel")
def api_cancel_export(export_id: str, store: StoreDep, runner: RunnerDep) -> dict[str, Any]:
    get_export_or_404(store, export_id)
    try:
        runner.cancel("exports", export_id)
    except JobError as error:
        raise HTTPException(409, str(error)) from None
    return get_export_or_404(store, export_id)


@router.get("/exports/{export_id}/files/{relative:path}")
def export_file(export_id: str, relative: str, store: StoreDep) -> FileResponse:
    return download(Path(get_export_or_404(store, export_id)["out_dir"]), relative)


# page forms
@router.post("/runs/{run_id}/exports")
async def export_form(run_id: str, request: Request, store: StoreDep) -> RedirectResponse:
    form = await request.form()
    run = get_run_or_404(store, run_id)
    create_export(store, run, [str(f) for f in form.getlist("formats")], form.get("int8") in ("on", "true"))
    return RedirectResponse(f"/runs/{run_id}#exports", status_code=303)


@router.post("/exports/{export_id}/bench")
def bench_form(export_id: str, store: StoreDep) -> RedirectResponse:
    job = create_bench(store, get_export_or_404(store, export_id))
    return RedirectResponse(f"/runs/{job['run_id']}#exports", status_code=303)
