"""The committed JSON Schema is the one the manifest models generate (the JS client's tests read it)."""

import json
import subprocess
import sys

from nightscan_edge.artifact.manifest import OPTIONAL_KEYS
from nightscan_edge.artifact.schema import manifest_schema, schema_json
from tests.artifact.test_manifest_model import SEED_KEYS
from tests.conftest import REPO_ROOT

COMMITTED = REPO_ROOT / "clients" / "js" / "schema" / "manifest.schema.json"
REGENERATE = "python -m nightscan_edge.artifact.schema > clients/js/schema/manifest.schema.json"


def test_committed_schema_is_the_generated_one():
    assert COMMITTED.read_text() == schema_json(), f"the manifest models changed: regenerate with `{REGENERATE}`"


def test_schema_command_prints_it():
    result = subprocess.run(
        [sys.executable, "-m", "nightscan_edge.artifact.schema"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(result.stdout) == manifest_schema()


def test_required_keys_are_what_every_export_writes():
    manifest = manifest_schema()["$defs"]["Manifest"]
    assert manifest["required"] == SEED_KEYS + ["objective", "thresholds"]  # multi-label keys, always written
    assert set(manifest["properties"]) == set(SEED_KEYS) | set(OPTIONAL_KEYS) | {"objective", "thresholds"}
    assert manifest["properties"]["objective"]["enum"] == ["single_label", "multilabel"]
    assert manifest["properties"]["licence"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
