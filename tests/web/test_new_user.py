"""What a new user met on first contact (issue 26, item 5): an untouched preset listed as changed, the form opening
on a licensed server model, the run's lock file offered as a download, a missing favicon on every page."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nightscan_edge.web.forms import parse_form, validate_run_config
from tests.web.conftest import register, wait_for

PAGES = ("/", "/datasets", "/runs/new", "/runs", "/try", "/search")


class FormFields(HTMLParser):
    """Each ``.field[data-preset]`` of the new-run form: its preset, what ``new_run.js`` reads as its value, and
    what the browser submits for it (a checkbox sends a hidden "false", then "true" when ticked)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, dict] = {}
        self._field: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "div" and "data-preset" in attributes:
            self._field = {"preset": attributes["data-preset"], "shown": None, "submitted": [], "options": []}
            self.fields[attributes["data-field"]] = self._field
        elif self._field is None:
            return
        elif tag == "input" and attributes.get("type") == "checkbox":
            ticked = "checked" in attributes
            self._field["shown"] = "True" if ticked else "False"
            self._field["submitted"] += ["true"] if ticked else []
        elif tag == "input" and attributes.get("type") == "hidden":
            self._field["submitted"].append(attributes["value"])
        elif tag == "input":
            self._field["shown"] = attributes.get("value", "")
            self._field["submitted"].append(attributes.get("value", ""))
        elif tag == "select":
            self._select = attributes["name"]
        elif tag == "option" and self._select:
            self._field["options"].append((attributes["value"], "selected" in attributes))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._field is not None:
            options = self._field["options"]
            chosen = next((value for value, selected in options if selected), options[0][0])  # as a browser picks
            self._field["shown"] = chosen
            self._field["submitted"].append(chosen)
            self._select = None


def _form(page: str) -> dict[str, dict]:
    parser = FormFields()
    parser.feed(page)
    assert parser.fields, "no preset-marked field on the page"
    return parser.fields


def _same(value: str) -> str:  # new_run.js compares "true"/"True" alike
    return {"true": "True", "false": "False"}.get(value, value)


@pytest.mark.parametrize("model", ["birdnet_head", "mobilenet_v3_small_photo", "ultralight_audio"])
def test_an_untouched_preset_shows_no_change_and_submits_none(client, model):
    page = client.get(f"/runs/new?model={model}").text
    fields = _form(page)
    assert '<ul id="preset-diff"></ul>' in page
    changed = {name: f for name, f in fields.items() if _same(f["shown"]) != _same(f["preset"])}
    assert changed == {}  # what new_run.js lists under "Changes from the preset"
    values, errors = parse_form({name: f["submitted"] for name, f in fields.items()})
    assert errors == {}
    _, overrides = validate_run_config(model, "/data", values)
    assert overrides == []  # the worker is told nothing the preset does not already say


def test_channels_last_keeps_its_default_on_photo_forms_and_is_absent_from_audio_ones(client):
    photo = _form(client.get("/runs/new?model=mobilenet_v3_small_photo").text)["train.channels_last"]
    assert photo["preset"] == "" and [value for value, _ in photo["options"]] == ["", "True", "False"]
    values, _ = parse_form({"train.channels_last": ["False"]})
    assert values == {"train": {"channels_last": False}}  # turning it off stays possible
    assert "train.channels_last" not in _form(client.get("/runs/new?model=ultralight_audio").text)


def test_the_form_opens_on_an_edge_model_and_offers_licensed_server_models_last(client):
    page = client.get("/runs/new").text
    select = page.split('<select id="model"', 1)[1].split("</select>", 1)[0]
    names = [chunk.split('"', 1)[0] for chunk in select.split('<option value="')[1:]]
    assert 'value="ultralight_audio" selected' in select
    assert names[:3] == ["ultralight_audio", "lightweight_audio", "mobilenet_v3_small_photo"]  # edge, smallest first
    assert names[-1] == "birdnet_head"  # non-commercial weights and an extra to install
    assert sorted(names) == sorted(model["name"] for model in client.get("/api/models").json())


def test_a_runs_downloads_leave_out_its_lock_file(client, tiny_audio):
    dataset = register(client, tiny_audio)
    body = {"model": "ultralight_audio", "dataset_id": dataset["id"], "config": {"train": {"epochs": 1}}}
    run = client.post("/api/runs", json=body).json()
    done = wait_for(client, f"/api/runs/{run['id']}", lambda r: r["status"] == "done")
    (Path(done["run_dir"]) / "run.lock").write_text("")  # what a worker holds while it writes the folder
    names = [f["name"] for f in client.get(f"/api/runs/{run['id']}").json()["files"]]
    assert names and "run.lock" not in names
    downloads = client.get(f"/runs/{run['id']}").text.split('id="run-files"', 1)[1].split("</ul>", 1)[0]
    assert "run.lock" not in downloads and names[0] in downloads


def test_every_page_names_an_icon_that_is_there(client):
    for path in PAGES:
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in client.get(path).text, path
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert ElementTree.fromstring(icon.content).tag == "{http://www.w3.org/2000/svg}svg"
    fallback = client.get("/favicon.ico")  # asked for by pages that name no icon (JSON opened in a tab)
    assert fallback.status_code == 200 and fallback.content == icon.content
