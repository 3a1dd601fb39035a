"""The house: a small top level, and no import cycles between doseapp's packages and modules.

Lazy imports (inside functions) count: a cycle hidden in a function is still two modules that
cannot be understood, tested or moved apart from each other."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "doseapp"

# What may stay at the top of doseapp/: the app factory and the small shared modules every layer reads.
TOP_LEVEL_LIMIT = 12


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    deps.add(full if full in modules else base)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each a cycle of modules."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _collapse(graph: dict[str, set[str]], packages: tuple[str, ...]) -> dict[str, set[str]]:
    """The graph with each of `packages` as one node (a package's __init__ re-exporting its modules
    is not a cycle; a package importing another that imports it back is)."""
    def owner(m: str) -> str:
        return next((p for p in packages if m == p or m.startswith(p + ".")), m)

    collapsed: dict[str, set[str]] = {}
    for m, deps in graph.items():
        collapsed.setdefault(owner(m), set()).update(owner(d) for d in deps if owner(d) != owner(m))
    return collapsed


def test_the_cycle_through_dicomnet_queues_and_jobs_is_broken():
    graph = _import_graph()
    assert "doseapp.runtime.jobs" not in graph["doseapp.runtime.queues"]
    assert not any(d.startswith("doseapp.dicomnet") for d in graph["doseapp.runtime.jobs"])
    assert "doseapp.runtime.queues" in graph["doseapp.dicomnet.recorder"]  # the receiver still enqueues


def test_no_import_cycles_between_packages():
    packages = tuple(f"doseapp.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    graph = _collapse(_import_graph(), packages)
    # The app factory (doseapp/__init__.py) is the composition root: it registers every blueprint, and
    # processes call it to make their app. Edges into it are how a program starts, not a dependency.
    graph = {m: deps - {"doseapp"} for m, deps in graph.items() if m != "doseapp"}
    assert "doseapp.runtime" in graph["doseapp.dicomnet"]
    assert _cycles(graph) == []


def test_runtime_and_cli_modules_have_no_cycles_among_themselves():
    graph = _import_graph()
    inner = {m: {d for d in deps if d.startswith(("doseapp.runtime", "doseapp.cli"))}
             for m, deps in graph.items() if m.startswith(("doseapp.runtime", "doseapp.cli"))}
    # cli/__init__ imports its command modules to register them, and they import cli.common: a package
    # gathering its parts, not a cycle between parts.
    inner = {m: {d for d in deps if d != "doseapp.cli"} for m, deps in inner.items()}
    assert _cycles(inner) == []


def test_the_top_level_holds_few_modules():
    loose = sorted(p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= TOP_LEVEL_LIMIT, loose
    for moved in ("cli", "jobs", "queues", "processes", "scheduler", "housekeeping", "embedded_redis"):
        assert moved not in loose
    assert (PACKAGE / "cli" / "__main__.py").exists()  # `python -m doseapp.cli`, what `doseapp run` spawns
