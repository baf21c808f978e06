"""Measured figures are data: ``benchmarks/results/<name>.json`` holds one measurement (title, date, machine,
command, figures as table rows, optional setup and notes); this module renders it as Markdown.

It is also the MkDocs hook (``hooks:`` in ``mkdocs.yml``): a page line ``<!-- figures: <name> -->`` becomes
the rendered table, so the docs never hold a pasted copy of a figure. An unknown name or a file missing a
required key stops the build. ``python benchmarks/render_results.py [NAME ...]`` prints the Markdown.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REQUIRED_KEYS = ("title", "date", "machine", "command", "figures")
MARKER = re.compile(r"^<!-- figures: ([A-Za-z0-9_-]+) -->$", re.MULTILINE)


class ResultsError(ValueError):
    """A results file is missing, unreadable or lacks a required key."""


def load_result(name: str) -> dict[str, Any]:
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in RESULTS_DIR.glob("*.json")))
        raise ResultsError(f"no measured figures named {name!r} in {RESULTS_DIR}; known: {known}")
    result = json.loads(path.read_text(encoding="utf-8"))
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise ResultsError(f"{path}: missing {', '.join(missing)}")
    if not result["figures"] or not all(isinstance(row, dict) for row in result["figures"]):
        raise ResultsError(f"{path}: figures must be a non-empty list of rows (objects)")
    return result


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|")


def render(name: str) -> str:
    """One measurement as Markdown: heading line, provenance, setup, table, notes."""
    result = load_result(name)
    columns: list[str] = []
    for row in result["figures"]:
        columns += [key for key in row if key not in columns]
    lines = [
        f"**{result['title']}** (measured {result['date']}; {result['machine']})",
        "",
        "```bash",
        result["command"],
        "```",
        "",
    ]
    if result.get("setup"):
        lines += [result["setup"], ""]
    lines += ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in result["figures"]]
    lines.append("")
    for note in result.get("notes", []):
        lines += [note, ""]
    lines.append(f"<small>Data: `benchmarks/results/{name}.json`</small>")
    return "\n".join(lines)


def render_markers(markdown: str) -> str:
    return MARKER.sub(lambda match: render(match.group(1)), markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: replace every figures marker of a page."""
    return render_markers(markdown)


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem for p in RESULTS_DIR.glob("*.json"))
    print("\n\n".join(render(name) for name in names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
