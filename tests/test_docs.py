"""The documentation: the README stays a front page, measured figures are data rendered into the docs, and
the MkDocs site builds with ``--strict`` (broken links, anchors or pages missing from the nav fail)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _renderer():
    spec = importlib.util.spec_from_file_location("render_results", ROOT / "benchmarks" / "render_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 150, f"README.md has {len(lines)} lines; move details into docs/"
    text = "\n".join(lines)
    assert "make run" in text and "make test" in text


def test_every_results_file_says_when_where_and_how_it_was_measured():
    render = _renderer()
    names = sorted(p.stem for p in RESULTS.glob("*.json"))
    assert names, "benchmarks/results/ holds no measured figures"
    for name in names:
        result = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        assert all(result.get(key) for key in ("title", "date", "machine", "command", "figures")), name
        assert len(result["date"]) == 10 and result["date"][4] == "-", f"{name}: date must be YYYY-MM-DD"
        table = render.render(name)
        first_row = result["figures"][0]
        assert all(str(value).replace("|", "\\|") in table for value in first_row.values())


def test_every_results_file_is_rendered_somewhere_and_every_marker_exists():
    render = _renderer()
    markers = {
        match.group(1)
        for page in (ROOT / "docs").rglob("*.md")
        for match in render.MARKER.finditer(page.read_text(encoding="utf-8"))
    }
    names = {p.stem for p in RESULTS.glob("*.json")}
    assert names - markers == set(), "results not shown in any docs page"
    assert markers - names == set(), "docs pages name figures that do not exist"


def test_unknown_figures_name_fails_with_the_known_names():
    render = _renderer()
    with pytest.raises(render.ResultsError, match="known: "):
        render.render_markers("<!-- figures: no_such_measurement -->")


def test_mkdocs_site_builds_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs-material is not installed; pip install -e '.[dev]'")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "guide" / "train" / "index.html").is_file()
