"""The web server's one Settings object: where state lives, who may connect, how big uploads may be."""

from __future__ import annotations

import ipaddress
import os
import shlex
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nightscan_edge.errors import UserError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SettingsError(UserError):
    """A server setting that cannot work (e.g. a public bind without a token)."""


class Settings(BaseModel):
    """Everything the server needs; built from CLI flags with ``NIGHTSCAN_*`` environment fallbacks."""

    model_config = ConfigDict(frozen=True, validate_default=True)

    data_dir: Path = Field(
        Path(".nightscan/web"),
        description="SQLite state, runs, uploads (git-ignored); "
        "made absolute against the working directory at start-up",
    )
    host: str = "127.0.0.1"
    port: int = Field(5002, ge=0, le=65535)
    token: str | None = Field(None, description="required on every request when binding beyond loopback")
    dataset_roots: tuple[Path, ...] = Field((), description="folders under which datasets may be registered")
    max_upload_mb: float = Field(200.0, gt=0)
    max_unzipped_mb: float = Field(500.0, gt=0, description="zip-bomb guard: total uncompressed size of one upload")
    max_storage_gb: float = Field(20.0, gt=0, description="server-wide quota on uploaded datasets (unzipped bytes)")
    max_parallel_jobs: int = Field(1, ge=1, description="workers running at once (training is CPU-heavy)")
    worker_command: tuple[str, ...] = Field(
        (), description="worker entry point (default: this Python -m nightscan_edge.cli)"
    )
    worker_threads: int = Field(2, ge=1, description="torch threads per worker (OMP_NUM_THREADS)")
    poll_seconds: float = Field(0.25, gt=0, description="how often a WebSocket checks its run's event log")
    job_poll_seconds: float = Field(1.0, gt=0, description="how often the job runner checks workers and the queue")
    stop_workers_on_exit: bool = Field(
        True, description="SIGTERM running workers at shutdown (runs become interrupted)"
    )
    allowed_origins: tuple[str, ...] = Field((), description="extra browser origins allowed besides the server's own")

    @field_validator("data_dir", "dataset_roots", mode="after")
    @classmethod
    def _absolute(cls, value: Path | tuple[Path, ...]) -> Path | tuple[Path, ...]:
        """Absolute once, at start-up: dataset intake refuses relative paths, and a worker started from
        another directory must find the same folders."""
        if isinstance(value, tuple):
            return tuple(Path(p).expanduser().resolve() for p in value)
        return Path(value).expanduser().resolve()

    @field_validator("token")
    @classmethod
    def _token_not_blank(cls, token: str | None) -> str | None:
        if token is not None and len(token.strip()) < 8:
            raise ValueError("token must be at least 8 characters")
        return token

    @model_validator(mode="after")
    def _public_bind_needs_token(self) -> Settings:
        if not is_loopback(self.host) and not self.token:
            raise SettingsError(
                f"binding to {self.host} exposes the server beyond this machine; pass --token or set NIGHTSCAN_TOKEN"
            )
        return self

    @property
    def database_path(self) -> Path:
        return self.data_dir / "nightscan.sqlite3"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def roots(self) -> tuple[Path, ...]:
        """Registrable roots: the configured ones plus the data dir's own upload/demo folder."""
        return tuple(dict.fromkeys(p.resolve() for p in (self.uploads_dir, *self.dataset_roots)))

    @property
    def max_storage_bytes(self) -> int:
        return int(self.max_storage_gb * 2**30)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Flags win over ``NIGHTSCAN_DATA_DIR`` / ``NIGHTSCAN_TOKEN`` / ``NIGHTSCAN_DATASET_ROOTS`` (os.pathsep
        list) / ``NIGHTSCAN_WORKER_COMMAND``."""
        values: dict[str, Any] = {}
        if os.environ.get("NIGHTSCAN_DATA_DIR"):
            values["data_dir"] = Path(os.environ["NIGHTSCAN_DATA_DIR"])
        if os.environ.get("NIGHTSCAN_TOKEN"):
            values["token"] = os.environ["NIGHTSCAN_TOKEN"]
        if os.environ.get("NIGHTSCAN_WORKER_COMMAND"):  # e.g. "nice -n 10 python -m nightscan_edge.cli"
            values["worker_command"] = tuple(shlex.split(os.environ["NIGHTSCAN_WORKER_COMMAND"]))
        if os.environ.get("NIGHTSCAN_DATASET_ROOTS"):
            values["dataset_roots"] = tuple(
                Path(p) for p in os.environ["NIGHTSCAN_DATASET_ROOTS"].split(os.pathsep) if p
            )
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)
