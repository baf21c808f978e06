"""Who may talk to the server: token, browser Origin and Host checks for every HTTP and WebSocket request.

- Beyond loopback a token is required (``Authorization: Bearer``, ``X-NightScan-Token``, the
  ``nightscan_token`` cookie, or ``?token=`` which also sets the cookie so a browser needs it only once).
- Browsers send ``Origin``: a WebSocket or a state-changing request from another site is refused, so a web
  page the user happens to visit cannot drive the server (CSRF / cross-site WebSocket hijacking).
- Without a token, the Host header must name loopback, which defeats DNS-rebinding attacks.
"""

from __future__ import annotations

import hmac
import logging
import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nightscan_edge.web.settings import Settings, is_loopback

TOKEN_COOKIE = "nightscan_token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _headers(scope: Scope) -> dict[str, str]:
    return {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}


def _presented_tokens(scope: Scope, headers: dict[str, str]) -> list[tuple[str, str]]:
    found = []
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        found.append(("header", authorization[7:].strip()))
    if "x-nightscan-token" in headers:
        found.append(("header", headers["x-nightscan-token"]))
    if "cookie" in headers:
        cookie = SimpleCookie()
        cookie.load(headers["cookie"])
        if TOKEN_COOKIE in cookie:
            found.append(("cookie", cookie[TOKEN_COOKIE].value))
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    for value in query.get("token", []):
        found.append(("query", value))
    return found


_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&])token=)[^&\s\"']*", re.IGNORECASE)


def redact_token(text: str) -> str:
    """``/runs?token=secret&x=1`` -> ``/runs?token=***&x=1``: tokens never reach a log file."""
    return _TOKEN_IN_QUERY.sub(r"\1***", text)


class TokenRedactingFilter(logging.Filter):
    """On uvicorn's access logger: the request line's ``?token=`` value is replaced before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_token(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_token(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction(logger_name: str = "uvicorn.access") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, TokenRedactingFilter) for f in logger.filters):
        logger.addFilter(TokenRedactingFilter())


def _host_name(host_header: str) -> str:
    return urlsplit(f"//{host_header}").hostname or ""


class SecurityMiddleware:
    """Pure ASGI middleware so the same rules cover HTTP and WebSocket connections."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        problem, set_cookie = self._check(scope, headers)
        if problem:
            await self._refuse(scope, receive, send, *problem)
            return
        if set_cookie and scope["type"] == "http":
            send = self._with_cookie(send)
        await self.app(scope, receive, send)

    def _check(self, scope: Scope, headers: dict[str, str]) -> tuple[tuple[int, str] | None, bool]:
        host = headers.get("host", "")
        if not self.settings.token and not is_loopback(_host_name(host)):
            return (403, f"host {host!r} refused: without --token the server answers loopback names only"), False
        origin = headers.get("origin")
        needs_origin_check = scope["type"] == "websocket" or scope.get("method") in UNSAFE_METHODS
        if origin and needs_origin_check and not self._origin_allowed(origin, host, scope):
            return (403, f"origin {origin} refused: requests must come from this server's own pages"), False
        if not self.settings.token:
            return None, False
        presented = _presented_tokens(scope, headers)
        for source, value in presented:
            if hmac.compare_digest(value.encode(), self.settings.token.encode()):
                return None, source == "query"
        return (
            401,
            "missing or wrong token: open the server's URL with ?token=... or send 'Authorization: Bearer <token>'",
        ), False

    def _origin_allowed(self, origin: str, host: str, scope: Scope) -> bool:
        if origin in self.settings.allowed_origins:
            return True
        parts = urlsplit(origin)
        return parts.netloc == host and parts.scheme in ("http", "https")

    def _with_cookie(self, send: Send) -> Send:
        token = self.settings.token

        async def send_with_cookie(message: Message) -> None:

            if message["type"] == "http.response.start":
                cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                message.setdefault("headers", []).append((b"set-cookie", cookie.encode("latin-1")))
            await send(message)

        return send_with_cookie

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        await PlainTextResponse(f"error: {message}", status_code=status)(scope, receive, send)
