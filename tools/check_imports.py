"""Check fedsyft's own import graph: no cycles between files, and no lower layer importing a
higher one.

The graph is built with :mod:`ast` from every ``import`` in every file of the package:
module-level imports *and* imports inside functions or methods (an import moved into a
function still makes a cycle, it only hides it until run time), plus
``importlib.import_module("fedsyft...")`` calls with a constant name. An edge goes from a
file to the most specific file of the package it names (``from .pointer import X`` ->
``fedsyft/workers/pointer.py``; ``from ..workers import X`` -> ``fedsyft/workers/__init__.py``;
``from . import sub`` -> ``sub``'s file). Imports under ``if TYPE_CHECKING:`` count for the
layers but not for cycles (they never run).

Layers, bottom up (a module may import its own layer and those below it)::

    0  device, workers
    1  data
    2  partition            (pure numpy: imports nothing of fedsyft outside partition/)
    3  fl, models           (models may be imported by fl and above)
    4  privacy
    5  syft_bridge, flower, cli, presets, __main__, and any top-level module not listed

The package's own ``__init__.py`` may import anything, and only layer 5 may import it (for
``__version__``, say). A new subpackage or top-level module
is placed in layer 5 until it is added to :data:`LAYERS`, so a lower layer importing it is
reported.

Usage::

    python tools/check_imports.py            # checks ./fedsyft; exit 1 and a list of problems
    python tools/check_imports.py --root path/to/fedsyft --verbose
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

LAYERS: dict[str, int] = {
    "device": 0, "workers": 0,
    "data": 1,
    "partition": 2,
    "fl": 3, "models": 3,
    "privacy": 4,
    "syft_bridge": 5, "flower": 5, "cli": 5, "presets": 5, "__main__": 5,
}
TOP_LAYER = 5
SELF_CONTAINED = {"partition"}  # may import nothing of the package outside itself


@dataclass
class Edge:
    src: str
    dst: str
    line: int
    type_only: bool


@dataclass
class Graph:
    package: str
    files: dict[str, Path] = field(default_factory=dict)  # module name -> file
    edges: list[Edge] = field(default_factory=list)

    def successors(self, *, runtime_only: bool = True) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {m: set() for m in self.files}
        for e in self.edges:
            if not (runtime_only and e.type_only):
                out[e.src].add(e.dst)
        return out


def module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(g: Graph, mod: str) -> bool:
    return g.files[mod].name == "__init__.py"


def _resolve(g: Graph, name: str) -> str | None:
    """The most specific module of the package that ``name`` (dotted) refers to."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in g.files:
            return cand
        parts.pop()
    return None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            t = node.test
            name = t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    ids.update(id(n) for n in ast.walk(stmt))
    return ids


def _targets(g: Graph, mod: str, node: ast.AST) -> Iterable[str]:
    """Dotted names (absolute) that an import node brings in."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = mod.split(".")
            if not _is_package(g, mod):
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            prefix = ".".join(base)
            full = f"{prefix}.{node.module}" if node.module else prefix
        else:
            full = node.module or ""
        for alias in node.names:
            yield f"{full}.{alias.name}"  # a submodule if it is one, else resolves to ``full``
        return
    if isinstance(node, ast.Call):  # importlib.import_module("fedsyft.x") / __import__("fedsyft.x")
        f = node.func
        fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if fname in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            yield node.args[0].value


def build_graph(root: Path) -> Graph:
    """Parse every ``*.py`` under ``root`` (the package folder) into a :class:`Graph`."""
    root = root.resolve()
    g = Graph(package=root.name)
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        g.files[module_name(root, path)] = path
    for mod, path in g.files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        type_only = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom, ast.Call)):
                continue
            for name in _targets(g, mod, node):
                if name != g.package and not name.startswith(g.package + "."):
                    continue
                dst = _resolve(g, name)
                if dst is not None and dst != mod:
                    g.edges.append(Edge(mod, dst, getattr(node, "lineno", 0), id(node) in type_only))
    return g


def find_cycles(g: Graph) -> list[list[str]]:
    """One concrete cycle per strongly connected component with more than one file."""
    succ = g.successors(runtime_only=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []
    counter = 0

    def strong(v: str) -> None:  # Tarjan
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(succ):
        if v not in index:
            strong(v)
    cycles = []
    for comp in comps:
        members = set(comp)
        start = comp[0]
        # shortest path from start back to start inside the component (BFS)
        prev: dict[str, str] = {}
        frontier, seen, found = [start], {start}, None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in sorted(succ[v] & members):
                    if w == start:
                        found = v
                        break
                    if w not in seen:
                        seen.add(w)
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        path = [start]
        v = found
        while v is not None and v != start:
            path.append(v)
            v = prev.get(v)
        cycles.append([start, *reversed(path[1:]), start])
    return cycles


def layer_of(g: Graph, mod: str) -> tuple[str, int]:
    parts = mod.split(".")
    if len(parts) == 1:  # the package's __init__: it imports anything; only the top layer imports it
        return "", TOP_LAYER
    top = parts[1]
    return top, LAYERS.get(top, TOP_LAYER)


def layer_violations(g: Graph) -> list[str]:
    problems = []
    for e in g.edges:
        if e.src == g.package:
            continue
        (s_top, s_layer), (d_top, d_layer) = layer_of(g, e.src), layer_of(g, e.dst)
        where = f"{g.files[e.src].relative_to(g.files[g.package].parent.parent)}:{e.line}"
        if s_top in SELF_CONTAINED and d_top != s_top:
            problems.append(f"{where}: {e.src} imports {e.dst}, but {s_top}/ is self-contained "
                            f"(pure numpy; it imports nothing of {g.package} outside itself).")
        elif d_layer > s_layer:
            problems.append(f"{where}: {e.src} (layer {s_layer}, {s_top}) imports {e.dst} "
                            f"(layer {d_layer}, {d_top or g.package}): a lower layer must not "
                            f"import a higher one.")
    return problems


def check(root: Path) -> tuple[list[list[str]], list[str], Graph]:
    g = build_graph(root)
    return find_cycles(g), layer_violations(g), g


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent / "fedsyft",
                    help="the package folder to check (default: ./fedsyft next to tools/)")
    ap.add_argument("--verbose", action="store_true", help="print every edge")
    args = ap.parse_args(argv)
    if not (args.root / "__init__.py").is_file():
        print(f"check_imports: {args.root} is not a package folder (no __init__.py).", file=sys.stderr)
        return 2
    cycles, violations, g = check(args.root)
    if args.verbose:
        for e in g.edges:
            print(f"{e.src} -> {e.dst} (line {e.line}{', type only' if e.type_only else ''})")
    for c in cycles:
        print("import cycle: " + " -> ".join(c))
        print("  (imports inside functions count too: move the shared code to a module below both, "
              "or the dependent code to a module above both)")
    for v in violations:
        print("layer violation: " + v)
    n_fn = len({(e.src, e.dst) for e in g.edges})
    if cycles or violations:
        print(f"check_imports: FAILED: {len(cycles)} cycle(s), {len(violations)} layer violation(s) "
              f"in {len(g.files)} files.")
        return 1
    print(f"check_imports: OK: {len(g.files)} files, {n_fn} import edges, no cycles, layers respected.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
