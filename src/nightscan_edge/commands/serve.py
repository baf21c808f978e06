"""``nightscan-edge serve``: the web interface (catalogue, datasets, training, export) on port 5002."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from nightscan_edge.commands import Subparsers
from nightscan_edge.errors import UserError

if TYPE_CHECKING:  # the web extra (FastAPI) is imported only when serving
    from nightscan_edge.web.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("serve", help="web interface: train, watch, export and download models")
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1; anything else needs --token)")
    parser.add_argument("--port", type=int, default=None, help="port (default 5002)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="state, runs and uploads (default ./.nightscan/web or $NIGHTSCAN_DATA_DIR)",
    )
    parser.add_argument("--token", default=None, help="access token required on every request ($NIGHTSCAN_TOKEN)")
    parser.add_argument(
        "--dataset-root",
        type=Path,
        action="append",
        default=None,
        dest="dataset_roots",
        help="folder under which datasets may be registered (repeatable; $NIGHTSCAN_DATASET_ROOTS)",
    )
    parser.add_argument("--max-upload-mb", type=float, default=None, help="largest accepted zip (default 200)")
    parser.add_argument(
        "--max-unzipped-mb",
        type=float,
        default=None,
        help="largest total uncompressed size of one uploaded zip (default 500)",
    )
    parser.add_argument(
        "--max-storage-gb",
        type=float,
        default=None,
        help="server-wide quota on uploaded datasets, unzipped (default 20)",
    )
    parser.add_argument("--max-parallel-jobs", type=int, default=None, help="workers at once (default 1)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="register a demo dataset on start (../shared/data/animal-sounds or a synthetic set)",
    )
    parser.set_defaults(handler=run)


def build_settings(args: argparse.Namespace) -> Settings:
    # deferred: needs the web extra (FastAPI); the CLI must start without it
    from nightscan_edge.web.demo import shared_demo_path
    from nightscan_edge.web.settings import Settings

    roots = list(args.dataset_roots or [])
    shared = shared_demo_path() if args.demo else None
    if shared is not None:
        roots.append(shared.parent)
    try:
        return Settings.from_env(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            token=args.token,
            dataset_roots=tuple(roots) or None,
            max_upload_mb=args.max_upload_mb,
            max_unzipped_mb=getattr(args, "max_unzipped_mb", None),
            max_storage_gb=getattr(args, "max_storage_gb", None),
            max_parallel_jobs=args.max_parallel_jobs,
        )
    except ValidationError as error:
        raise UserError("; ".join(str(item["msg"]).removeprefix("Value error, ") for item in error.errors())) from None


def run(args: argparse.Namespace) -> int:
    # deferred: needs the web extra; the CLI must start without it
    import uvicorn

    from nightscan_edge.web import create_app
    from nightscan_edge.web.demo import ensure_demo_dataset
    from nightscan_edge.web.uploads import UploadError

    settings = build_settings(args)
    app = create_app(settings)
    if args.demo:
        try:
            dataset = ensure_demo_dataset(settings, app.state.store, app.state.runner.worker_command())
        except (UploadError, RuntimeError) as error:
            raise UserError(f"--demo: {error}") from None
        print(f"demo dataset: {dataset['name']} ({dataset['path']})")
    url = f"http://{settings.host}:{settings.port}/" + (f"?token={settings.token}" if settings.token else "")
    print(f"NightScan Edge on {url}  (data in {settings.data_dir.resolve()})", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0
