"""Token, Origin and Host rules on HTTP and WebSocket requests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from nightscan_edge.web import create_app
from tests.web.conftest import BASE_URL, WS_BASE, fake_settings

TOKEN = "correct-horse-battery"


@pytest.fixture
def public_client(tmp_path):
    settings = fake_settings(tmp_path / "data", host="0.0.0.0", token=TOKEN)
    with TestClient(create_app(settings), base_url="http://field-laptop.local:5002") as client:
        yield client


def test_every_request_needs_the_token_when_public(public_client):
    for path in ("/", "/api/runs", "/static/app.css", "/api/docs"):
        response = public_client.get(path)
        assert response.status_code == 401 and "token" in response.text
    assert public_client.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert public_client.get("/api/runs", headers={"X-NightScan-Token": "wrong-token!"}).status_code == 401
    first = public_client.get(f"/api/runs?token={TOKEN}")
    assert first.status_code == 200 and "nightscan_token" in first.headers["set-cookie"]
    assert "HttpOnly" in first.headers["set-cookie"]
    assert public_client.get("/api/runs").status_code == 200  # the cookie now carries it


def test_websocket_needs_the_token_and_a_matching_origin(public_client):
    url = "ws://field-laptop.local:5002/ws/runs/nope"
    with pytest.raises(WebSocketDisconnect) as refused:
        with public_client.websocket_connect(url) as socket:
            socket.receive_json()
    assert refused.value.code == 1008
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"}
    with pytest.raises(WebSocketDisconnect) as refused:
        with public_client.websocket_connect(url, headers=headers) as socket:
            socket.receive_json()
    assert "origin" in refused.value.reason
    headers["Origin"] = "http://field-laptop.local:5002"
    with public_client.websocket_connect(url, headers=headers) as socket:
        assert socket.receive_json()["type"] == "error"  # accepted; the run simply does not exist


def test_loopback_refuses_cross_site_posts_and_foreign_host_names(client):
    response = client.post("/api/datasets", json={"path": "/x"}, headers={"Origin": "http://evil.example"})
    assert response.status_code == 403 and "origin" in response.text
    assert client.post("/api/datasets", json={"path": "/x"}, headers={"Origin": BASE_URL}).status_code == 400
    rebinding = client.get("/api/runs", headers={"Host": "attacker.example:5002"})
    assert rebinding.status_code == 403 and "loopback" in rebinding.text
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect(f"{WS_BASE}/ws/runs/x", headers={"Origin": "http://evil.example"}) as s:
            s.receive_json()
