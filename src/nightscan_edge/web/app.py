"""``create_app(settings)``: wires the store, the job runner, the security middleware and the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from nightscan_edge import __version__
from nightscan_edge.errors import UserError
from nightscan_edge.review import ReviewStore
from nightscan_edge.web.jobs import JobRunner
from nightscan_edge.web.routers import (
    compare,
    datasets,
    exports,
    models,
    review,
    review_suggest,
    runs,
    studies,
    try_it,
    ws,
)
from nightscan_edge.web.security import SecurityMiddleware, install_log_redaction
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store

WEB_DIR = Path(__file__).parent
OPENAPI_URL = "/api/openapi.json"


def create_app(settings: Settings) -> FastAPI:
    """A ready FastAPI app; its lifespan starts the job runner (which first reconciles runs left running)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database_path)
    runner = JobRunner(settings, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        models.warm_catalogue_in_background()
        await runner.start()
        try:
            yield
        finally:
            await runner.stop()

    app = FastAPI(
        title="NightScan Edge",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served below from the vendored Swagger UI, so it works offline
        redoc_url=None,
        openapi_url=OPENAPI_URL,
    )

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """Swagger UI from static/vendor/swagger-ui (FastAPI's default loads it from a CDN)."""
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title="NightScan Edge API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """Browsers ask for /favicon.ico on pages that name no icon (the JSON API opened in a tab): the same SVG."""
        return FileResponse(WEB_DIR / "static" / "favicon.svg", media_type="image/svg+xml")

    app.state.settings = settings
    app.state.store = store
    app.state.runner = runner
    app.state.review = ReviewStore(settings.data_dir)  # <data dir>/review/review.sqlite3
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    templates.env.globals["version"] = __version__
    app.state.templates = templates
    app.add_middleware(SecurityMiddleware, settings=settings)
    install_log_redaction()  # ?token= never lands in the access log
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")
    for router in (
        models.router,
        datasets.router,
        compare.router,
        runs.router,
        exports.router,
        try_it.router,
        studies.router,
        review_suggest.router,
        review.router,
        ws.router,
    ):
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        """A malformed request body or query -> 422 with one line naming each field (not a nested list)."""
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'] if p != 'body') or 'body'}: {item['msg']}"
            for item in error.errors()
        )
        return JSONResponse({"detail": " ".join(problems.split())}, status_code=422)

    @app.exception_handler(UserError)
    async def _user_error(request: Request, error: UserError) -> JSONResponse:
        """A user-facing error that escaped a route -> 400 with its one line, never a 500 with a traceback."""
        return JSONResponse({"detail": " ".join(str(error).split())}, status_code=400)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> Response:
        """JSON for the API, a plain page for people."""
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)
        return templates.TemplateResponse(
            request, "error.html", {"status": error.status_code, "detail": error.detail}, status_code=error.status_code
        )

    return app
