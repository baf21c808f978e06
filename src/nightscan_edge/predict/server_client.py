"""HTTP client for the server's ``POST /api/predict``, with a timeout and a circuit breaker.

The breaker exists for long recordings in the field: when the server is down, asking again for every unsure
window would cost one timeout each. After ``max_failures`` failures in a row the client stops asking for
``cooldown_s`` seconds; every skipped or failed call is reported as a failure so the caller keeps the edge
result flagged ``fallback_failed``.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import soundfile

from nightscan_edge.errors import UserError

PREDICT_PATH = "/api/predict"


class FallbackFailed(UserError, RuntimeError):
    """The server could not give an answer (unreachable, too slow, error response, incompatible labels)."""


@dataclass(frozen=True)
class ServerAnswer:
    label: str
    confidence: float
    probabilities: dict[str, float]
    model: dict[str, Any]
    objective: str = "single_label"  # a multi-label server's probabilities are per-class sigmoid scores


def predict_url(server_url: str) -> str:
    """``http://host:port`` -> ``http://host:port/api/predict``; a URL with a path is used as given."""
    parts = urlsplit(server_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"server URL {server_url!r} must look like http://host:port")
    return server_url if parts.path not in ("", "/") else server_url.rstrip("/") + PREDICT_PATH


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """A window as 16-bit PCM WAV (what the JS client sends too)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


class ServerClient:
    def __init__(
        self, server_url: str, timeout_s: float = 5.0, max_failures: int = 3, cooldown_s: float = 30.0
    ) -> None:
        self.url = predict_url(server_url)
        self.timeout_s = timeout_s
        self.max_failures = max_failures
        self.cooldown_s = cooldown_s
        self._failures_in_a_row = 0
        self._skip_until = 0.0
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s))
        self.last_error: str | None = None

    def close(self) -> None:
        self._http.close()

    def predict(self, data: bytes, filename: str, content_type: str = "application/octet-stream") -> ServerAnswer:
        if time.monotonic() < self._skip_until:
            raise FallbackFailed(f"server skipped after {self.max_failures} failures in a row ({self.last_error})")
        try:
            response = self._http.post(self.url, files={"file": (filename, data, content_type)})
            if response.status_code != 200:
                detail = response.text[:200]
                raise FallbackFailed(f"server answered HTTP {response.status_code}: {detail}")
            body = response.json()
            answer = ServerAnswer(
                str(body["label"]),
                float(body["confidence"]),
                {str(k): float(v) for k, v in body["probabilities"].items()},
                dict(body.get("model", {})),
                str(body.get("objective", "single_label")),
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError, FallbackFailed) as error:
            self._failures_in_a_row += 1
            self.last_error = error.args[0] if isinstance(error, FallbackFailed) else f"{type(error).__name__}: {error}"
            if self._failures_in_a_row >= self.max_failures:
                self._skip_until = time.monotonic() + self.cooldown_s
            raise FallbackFailed(self.last_error) from error
        self._failures_in_a_row = 0
        return answer
