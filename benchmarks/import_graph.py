"""Print the package's import loops and the places that branch on an export format's name.

Why: the export/runtime split only holds if nothing loops back; counting keeps refactors honest (issue 17).
Static (ast) scan of ``src/nightscan_edge``, nothing is imported. Two graphs:

* ``module level``: imports executed when a module loads (``if TYPE_CHECKING`` blocks left out);
* ``all``: plus the imports inside functions and ``if TYPE_CHECKING`` blocks (a type-only import is still
  a dependency: the two modules cannot be understood or moved apart).

An edge goes to the module named (``from a.b import c``: to ``a.b.c`` when that is a module, else ``a.b``),
as pylint's cyclic-import check counts. ``--packages`` adds what Python also runs: importing ``a.b.c`` runs
``a/__init__`` and ``a/b/__init__`` first, so a package ``__init__`` that re-exports its submodules puts all
of them on one loop (stricter; printed for comparison). A loop is a strongly connected component of more
than one module.

    python benchmarks/import_graph.py            # summary
    python benchmarks/import_graph.py --verbose  # every loop and every branch
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "nightscan_edge"
FORMAT_NAMES = ("onnx", "tflite", "coreml", "executorch")
# `fmt.name == "onnx"`, `format == 'tflite'`, `suffix == ".pte"`, `in (".tflite", ".pte")` and the like.
BRANCH = re.compile(r"""(==|!=|\bin\b)\s*\(?\s*["']\.?(""" + "|".join(FORMAT_NAMES) + r"""|mlpackage|pte)["']""")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.Module, current: str, is_package: bool, module_level_only: bool) -> list[tuple[str, list[str]]]:
    """``(module, names)`` per import statement: ``import a.b`` -> ``("a.b", [])``; ``from a import b, c``
    -> ``("a", ["b", "c"])`` (relative imports resolved)."""
    found: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if module_level_only and isinstance(child, ast.If) and _is_type_checking(child):
                continue
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import) and not (module_level_only and in_function):
                found.extend((alias.name, []) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and not (module_level_only and in_function):
                base = child.module or ""
                if child.level:
                    anchor = current.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                found.append((base, [alias.name for alias in child.names]))
            visit(child, nested)

    visit(tree, False)
    return found


def graph(module_level_only: bool, packages: bool = False) -> dict[str, set[str]]:
    files = {module_name(p): p for p in (ROOT / PACKAGE).rglob("*.py")}
    edges: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        for base, names in imports(tree, name, path.name == "__init__.py", module_level_only):
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in files]
            targets = set(submodules)
            if len(submodules) < len(names) or not names:  # a name defined in `base` itself
                targets.add(base)
            if packages:  # the packages on the way run too
                for target in list(targets):
                    parts = target.split(".")
                    targets.update(".".join(parts[:end]) for end in range(1, len(parts)))
            edges[name].update(t for t in targets if t in files and t != name and not name.startswith(t + "."))
    return edges


def loops(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10000)

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return sorted(found)


def _lines_outside_artifact(matches) -> list[str]:
    """``path:line: code`` of every line outside ``artifact/`` for which ``matches(line)`` holds."""
    found = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        if "artifact" in path.relative_to(ROOT / PACKAGE).parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.lstrip().startswith("#") and matches(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:110]}")
    return found


def format_branches() -> list[str]:
    """Lines outside ``artifact/`` that compare something with a format name or suffix."""
    return _lines_outside_artifact(lambda line: BRANCH.search(line) is not None)


# A tuple/list/dict literal naming two or more formats or suffixes: a second format table.
_NAMES = "|".join(FORMAT_NAMES + (r"\.onnx", r"\.tflite", r"\.pte", r"\.mlpackage"))
TABLE = re.compile(rf"""["']({_NAMES})["'].*["']({_NAMES})["']""")


def format_tables() -> list[str]:
    """Lines outside ``artifact/`` that list several formats/suffixes (a format table kept by hand); messages
    (raise, f-strings, help texts) are not tables."""

    def is_table(line: str) -> bool:
        code = line.split("#")[0]
        return (
            TABLE.search(code) is not None
            and "Error(" not in code
            and not line.lstrip().startswith(("raise", 'f"', '"', "help="))
        )

    return _lines_outside_artifact(is_table)


def largest_modules(count: int = 5) -> list[tuple[int, str]]:
    sizes = [(len(p.read_text().splitlines()), str(p.relative_to(ROOT))) for p in (ROOT / PACKAGE).rglob("*.py")]
    return sorted(sizes, reverse=True)[:count]


def subpackage_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph folded onto top-level subpackages (``nightscan_edge.export.pipeline`` ->
    ``nightscan_edge.export``): which floor imports which."""
    top: dict[str, set[str]] = {}
    for a in edges:
        for b in edges[a]:
            pa, pb = ".".join(a.split(".")[:2]), ".".join(b.split(".")[:2])
            if pa != pb:
                top.setdefault(pa, set()).add(pb)
                top.setdefault(pb, set())
    return top


def pair_loop(edges: dict[str, set[str]], a: str, b: str) -> bool:
    """Whether ``a`` reaches ``b`` and ``b`` reaches ``a`` (through any modules)."""

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(edges.get(node, ()))
        return False

    return reaches(a, b) and reaches(b, a)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--packages", action="store_true", help="count the parent packages' __init__ too")
    args = parser.parse_args()
    for label, module_level_only in (("module level", True), ("all imports", False)):
        edges = graph(module_level_only, args.packages)
        found = loops(edges)
        direct = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, ())})
        print(
            f"{label}: {len(found)} import loops ({sum(len(c) for c in found)} modules), {len(direct)} two-module loops"
        )
        for a, b in (
            ("nightscan_edge.runtime", "nightscan_edge.export"),
            ("nightscan_edge.export.bundle", "nightscan_edge.export.pipeline"),
        ):
            print(f"  {a.split('.', 1)[1]} <-> {b.split('.', 1)[1]}: {'loop' if pair_loop(edges, a, b) else 'none'}")
        package_loops = loops(subpackage_graph(edges))
        print(
            f"  subpackage loops: {len(package_loops)}"
            + "".join(f"; {' <-> '.join(p.split('.', 1)[1] for p in c)}" for c in package_loops)
        )
        runtime_to_export = sorted(
            f"{a} -> {b}"
            for a in edges
            if a.startswith("nightscan_edge.runtime")
            for b in edges[a]
            if b.startswith("nightscan_edge.export")
        )
        print(f"  runtime imports export: {len(runtime_to_export)}")
        if args.verbose:
            for component in found:
                print("    loop: " + ", ".join(component))
            for a, b in direct:
                print(f"    {a} <-> {b}")
            for edge in runtime_to_export:
                print("    " + edge)
    branches = format_branches()
    print(f"format-name branches outside artifact/: {len(branches)}")
    if args.verbose:
        for line in branches:
            print("    " + line)
    tables = format_tables()
    print(f"hand-kept format lists outside artifact/: {len(tables)}")
    if args.verbose:
        for line in tables:
            print("    " + line)
    print("largest modules: " + ", ".join(f"{path} {size}" for size, path in largest_modules()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
