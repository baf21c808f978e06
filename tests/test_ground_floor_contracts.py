"""The ground floor's contracts: RunFolder reads and writes what training saved (config, split, spec from the
checkpoint), one error root, bench options from ``Config.bench``, and the import walls between layers."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from nightscan_edge.bench import BenchOptions
from nightscan_edge.checkpoint import save_standalone_checkpoint
from nightscan_edge.config import BenchConfig, resolve_config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.errors import CheckpointError, DataError, NightScanError, TrainingCancelled, UserError
from nightscan_edge.models import create_model
from nightscan_edge.run_folder import RunFolder, SplitEntry, SplitPlan

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "nightscan_edge"


def _import_graph() -> ModuleType:
    """``benchmarks/import_graph.py``, the script that counts the loops, so the test and the figure agree."""
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "benchmarks" / "import_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_and_split_round_trip_through_the_run_folder(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    config = resolve_config({"data": {"path": "somewhere"}, "model": {"name": "ultralight_audio"}})
    run.write_config(config)
    assert run.read_config() == config
    plan = SplitPlan(
        [SplitEntry(Path("a.wav"), "owl", "train", "night-1"), SplitEntry(Path("b.wav"), "frog", "val")], "x"
    )
    run.write_split(plan)
    read = run.read_split()
    assert read.entries == plan.entries and [e.path for e in read.of("val")] == [Path("b.wav")]


def test_spec_comes_from_the_checkpoint_not_the_config(tmp_path):
    model = create_model("ultralight_audio", 3, spec={"kind": "audio", "sample_rate": 16000, "clip_samples": 16000})
    run = RunFolder(tmp_path)
    save_standalone_checkpoint(run.best_checkpoint, model, ["a", "b", "c"])
    spec = run.read_spec()
    assert spec == model.spec and spec.sample_rate == 16000
    assert run.read_checkpoint_metadata()["labels"] == ["a", "b", "c"]


def test_a_folder_without_checkpoint_or_split_says_so_in_one_line(tmp_path):
    run = RunFolder(tmp_path)
    with pytest.raises(CheckpointError, match="best.ckpt or last.ckpt"):
        run.read_spec()
    with pytest.raises(DataError, match="split.csv not found"):
        run.read_split()


def test_every_error_has_one_root_and_a_cancel_is_not_a_user_error():
    assert issubclass(UserError, NightScanError) and issubclass(ConfigError, UserError)
    assert issubclass(TrainingCancelled, NightScanError) and not issubclass(TrainingCancelled, UserError)
    assert TrainingCancelled(15).signal_number == 15 and "SIGTERM" in str(TrainingCancelled(15))


def test_bench_options_are_the_config_bench_section_plus_per_call_values():
    options = BenchOptions(BenchConfig(iterations=7, threads=[2]), sample_limit=3)
    assert (options.iterations, options.threads, options.warmup, options.sample_limit) == (7, (2,), 10, 3)
    assert BenchOptions(threads=(1, 2)).config == BenchConfig(threads=[1, 2])
    with pytest.raises(ConfigError):
        resolve_config({"bench": {"threads": [-1]}})


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, inside a function) for every import of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inner = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(function)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, id(node) in inner))
        elif isinstance(node, ast.Import):
            found += [(alias.name, id(node) in inner) for alias in node.names]
    return found


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("models", "nightscan_edge.prune"),  # pruned architectures live in models/pruned.py
        ("web", "nightscan_edge.commands"),  # the catalogue lives in models/catalogue.py
        ("commands", "nightscan_edge.cli"),  # commands raise errors.UserError
        ("train", "nightscan_edge.commands"),
    ],
)
def test_no_upward_imports(layer, forbidden):
    offenders = [
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in (PACKAGE / layer).rglob("*.py")
        for module, _ in _imports(path)
        if module == forbidden or module.startswith(forbidden + ".")
    ]
    assert offenders == []


@pytest.mark.parametrize("module", ["errors.py", "atomic.py", "run_folder.py"])
def test_the_ground_floor_imports_only_the_ground_floor(module):
    ground = {"errors", "atomic", "config", "spec", "safe_load", "paths", "objective"}
    upward = [
        name
        for name, _ in _imports(PACKAGE / module)
        if name.startswith("nightscan_edge.") and name.split(".")[1] not in ground
    ]
    assert upward == []


def test_commands_import_at_the_top_except_optional_extras():
    extras = (
        "nightscan_edge.web",
        "uvicorn",
        "nightscan_edge.predict.server_api",
        "nightscan_edge.predict.archive",
        "nightscan_edge.tune",  # the tune extra (Optuna)
    )
    hidden = [
        f"{path.name}: {module}"
        for path in (PACKAGE / "commands").glob("*.py")
        for module, inside in _imports(path)
        if inside and not module.startswith(extras)
    ]
    assert hidden == []


@pytest.mark.parametrize("module_level_only", [True, False], ids=["module-level", "deferred-and-type-only-included"])
def test_no_import_loops_between_modules_or_floors(module_level_only):
    """What ``python benchmarks/import_graph.py`` prints as 0 loops: a function-level or ``TYPE_CHECKING`` import
    counts too (a type-only import is still a dependency), between modules and between subpackages."""
    graph = _import_graph()
    edges = graph.graph(module_level_only)
    assert graph.loops(edges) == []
    assert graph.loops(graph.subpackage_graph(edges)) == []


# The floors of docs/architecture.md, lowest first. A package imports only from the floors under it; on its own
# floor only along an arrow of the picture (SIDEWAYS; the ground floor's modules use each other freely). DOORS
# are the upward imports the page names, each function-level.
FLOORS = [
    {"errors", "atomic", "spec", "registry", "paths", "safe_load", "quiet", "sample_size", "config_layers", "config"}
    | {"run_folder", "study_folder", "objective", "multilabel_metrics"},
    {"audio"},
    {"models"},
    {"artifact"},
    {"runtime", "data", "checkpoint"},
    {"export", "bench", "predict", "review"},
    {"web", "tune", "prune", "train", "birdnet"},
    {"commands", "cli"},
]
SIDEWAYS = {("prune", "train"), ("train", "birdnet"), ("tune", "train"), ("tune", "prune"), ("review", "predict")}
DOORS = {("config", "models")}  # config checks model.name against models.MODELS


def test_every_import_goes_down_the_floors_of_the_architecture_page():
    graph = _import_graph()
    floor = {name: level for level, names in enumerate(FLOORS) for name in names}
    edges = {
        a.split(".", 1)[1]: {b.split(".", 1)[1] for b in targets}
        for a, targets in graph.subpackage_graph(graph.graph(module_level_only=False)).items()
    }
    assert sorted(set(edges) - set(floor)) == [], "put the new package on a floor here and in docs/architecture.md"
    against_the_floors = sorted(
        f"{a} -> {b}"
        for a, targets in edges.items()
        for b in targets
        if (floor[b] > floor[a] or (floor[b] == floor[a] > 0 and (a, b) not in SIDEWAYS)) and (a, b) not in DOORS
    )
    assert against_the_floors == []
