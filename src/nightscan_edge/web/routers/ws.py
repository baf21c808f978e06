"""``/ws/runs/{run_id}?from=N``: a run's events streamed by tailing its events.jsonl.

Nothing is kept in server memory between connections: a viewer that reloads, reconnects or talks to a
restarted server passes the index of the next event it needs and receives everything from there. Each
message is one event from the log plus its ``seq`` index, or ``{"type": "status", ...}`` when the run's
recorded status changes (e.g. ``interrupted``, which the worker cannot write itself).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from nightscan_edge.web.events import EVENTS_FILE, EventTail
from nightscan_edge.web.store import Store

router = APIRouter(tags=["ws"])
STATUS_CHECK_SECONDS = 1.0
# Many viewers of one run share one status query per second (a memo of the database, not a registry).
_status_memo: dict[tuple[str, str], tuple[float, tuple[str, str | None]]] = {}


def _run_status(store: Store, run_id: str) -> tuple[str, str | None]:
    now = time.monotonic()
    key = (str(store.path), run_id)
    memo = _status_memo.get(key)
    if memo is not None and now - memo[0] < STATUS_CHECK_SECONDS:
        return memo[1]
    run = store.run(run_id)
    if run is None:  # runs are never deleted; the stream ends like a dropped socket (RuntimeError, caught below)
        raise RuntimeError(f"run {run_id} is no longer in the database")
    status = (run["status"], run["error"])
    if len(_status_memo) > 1000:
        _status_memo.clear()
    _status_memo[key] = (now, status)
    return status


async def _wait_for_disconnect(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


@router.websocket("/ws/runs/{run_id}")
async def run_events(websocket: WebSocket, run_id: str) -> None:
    store = websocket.app.state.store
    settings = websocket.app.state.settings
    raw_from = websocket.query_params.get("from", "0")
    run = store.run(run_id)
    await websocket.accept()
    if run is None or not raw_from.isdigit():
        message = f"unknown run {run_id!r}" if run is None else "from must be a non-negative event index"
        await websocket.send_text(json.dumps({"type": "error", "message": message}))
        await websocket.close(code=4404 if run is None else 4400)
        return
    tail = EventTail(Path(run["run_dir"]) / EVENTS_FILE, start=int(raw_from))
    disconnected = asyncio.create_task(_wait_for_disconnect(websocket))
    last_status: tuple[str, str | None] | None = None

    next_status_check = 0.0
    try:
        while not disconnected.done():
            for event in tail.poll():
                await websocket.send_text(json.dumps(event))
            now = time.monotonic()
            if now >= next_status_check:
                next_status_check = now + STATUS_CHECK_SECONDS
                status = _run_status(store, run_id)
                if status != last_status:
                    last_status = status
                    await websocket.send_text(
                        json.dumps({"type": "status", "status": status[0], "error": status[1], "next": tail.next_seq})
                    )
            await asyncio.wait({disconnected}, timeout=settings.poll_seconds)
    except (WebSocketDisconnect, RuntimeError):
        return  # the viewer left between two sends
    finally:
        disconnected.cancel()
        if websocket.client_state == WebSocketState.CONNECTED:
            try:
                await websocket.close()
            except RuntimeError:
                pass
