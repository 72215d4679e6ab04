"""The package's import graph, read with ``ast``: no import cycle between project modules, and
no project import inside a function except the deferrals listed (with their reason) below."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import saas_metrics

PACKAGE_DIR = Path(saas_metrics.__file__).parent

#: The only project imports allowed inside functions: (module, function) -> (imported modules, why).
#: Each defers an import that is heavy and that the caller's other paths do not need.
DEFERRED_IMPORTS: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("saas_metrics.reports.write", "write_dashboard"): (
        frozenset({"saas_metrics.reports.dashboard"}),
        "plotly costs about 1 s that only the dashboard step and `report --html` need"),
    ("saas_metrics.cli.app", "_generate"): (
        frozenset({"saas_metrics.sample_data", "saas_metrics.sample_data.manifest"}),
        "the simulator (numpy, pandas) costs about 1 s that the other commands do not need"),
    ("saas_metrics.cli.app", "run"): (
        frozenset({"saas_metrics.cli.progress", "saas_metrics.quality.companion"}),
        "Dagster and the definitions cost about 4 s; only `saas-metrics run` needs them, and it starts the GX companion before them"),
    ("saas_metrics.cli.app", "_report"): (
        frozenset({"saas_metrics.cli.report"}),
        "pandas and the warehouse cost about 0.8 s that --help, serve and ui do not need"),
    ("saas_metrics.cli.app", "alerts_replay"): (
        frozenset({"saas_metrics.alerts.history", "saas_metrics.alerts.outbox", "saas_metrics.alerts.rules",
                   "saas_metrics.warehouse"}),
        "the alert evaluation (pandas, SQLAlchemy) costs about 1.3 s; only this command needs it"),
    ("saas_metrics.cli.app", "bench"): (
        frozenset({"saas_metrics.bench.harness"}),
        "the benchmark harness loads the warehouse and the simulator (about 2 s)"),
    ("saas_metrics.bench.worker", "warehouse_rows"): (
        frozenset({"saas_metrics.warehouse.store"}),
        "the harness imports RunSpec from the worker; the pipeline loads only in the measured process"),
    ("saas_metrics.bench.worker", "run_once"): (
        frozenset({"saas_metrics.bench.memory", "saas_metrics.config", "saas_metrics.dagster_storage", "saas_metrics.runner",
                   "saas_metrics.quality.companion"}),
        "the measured run loads Dagster and the pipeline in its own fresh process, not in the harness"),
    ("saas_metrics.bench.launched", "describe_run"): (
        frozenset({"saas_metrics.defs.resources"}),
        "the run log's memory line is named beside the resource that writes it (Dagster); the harness loads it only to read a finished run"),
    ("saas_metrics.bench.harness", "ensure_data"): (
        frozenset({"saas_metrics.sample_data"}),
        "the harness only orchestrates worker processes; the simulator loads when data is missing"),
    ("saas_metrics.bench.harness", "drop_all"): (
        frozenset({"saas_metrics.warehouse.store"}),
        "the harness only orchestrates worker processes; the warehouse loads when it is reset"),
    ("saas_metrics.bench.machine", "describe_machine"): (
        frozenset({"saas_metrics.warehouse.checkpoint"}),
        "the machine table names whether SQLite checkpoints in the background; the warehouse package loads pandas"),
    ("saas_metrics.bench.harness", "forget_validations"): (
        frozenset({"saas_metrics.quality.replay", "saas_metrics.warehouse.store"}),
        "the harness only orchestrates worker processes; the validation store loads between month repeats"),
    ("saas_metrics.bench.harness", "_floor_run"): (
        frozenset({"saas_metrics.defs.revenue_assets", "saas_metrics.defs.source_assets", "saas_metrics.metrics.mrr",
                   "saas_metrics.warehouse"}),
        "Dagster and the pipeline load in the harness only for the DuckDB floor comparison"),
    ("saas_metrics.bench.harness", "check_floor"): (
        frozenset({"saas_metrics.metrics.kpi", "saas_metrics.metrics.movements", "saas_metrics.warehouse"}),
        "the pipeline's tables load in the harness only for the DuckDB floor comparison"),
}


@dataclass
class ImportGraph:
    """Module-level import edges between project modules, and the project imports made inside functions."""

    modules: set[str] = field(default_factory=set)
    edges: dict[str, set[str]] = field(default_factory=dict)
    function_level: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # the modules named
    function_level_edges: dict[str, set[str]] = field(default_factory=dict)  # with their parent packages
    function_level_total: int = 0  # every import statement inside a function, project or not


def _module_names(root: Path, package: str) -> dict[str, Path]:
    names = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict[str, Path],
             package: str) -> tuple[list[str], list[str]]:
    """The project modules an import statement names, and those it loads: with the parent packages
    Python initialises first (a package's own modules do not count their package: it is already
    being initialised)."""
    if isinstance(node, ast.Import):
        direct = [alias.name for alias in node.names if alias.name.split(".")[0] == package]
    else:
        base = node.module or ""
        if node.level:
            parts = module.split(".") if is_package else module.split(".")[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        if base.split(".")[0] != package:
            return [], []
        direct = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
    found = []
    for target in direct:
        parts = target.split(".")
        for end in range(1, len(parts) + 1):
            name = ".".join(parts[:end])
            inside = module == name or module.startswith(name + ".")
            if name in modules and (name == target or not inside) and name not in found:
                found.append(name)
    return direct, found


def build_import_graph(root: Path, package: str = "saas_metrics") -> ImportGraph:
    """Read every module of ``package`` under ``root``; imports under ``if TYPE_CHECKING:`` never run."""
    modules = _module_names(root, package)
    graph = ImportGraph(modules=set(modules), edges={name: set() for name in modules})

    def visit(node: ast.AST, module: str, is_package: bool, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                direct, loaded = _targets(child, module, is_package, modules, package)
                if function is None:
                    graph.edges[module].update(t for t in loaded if t != module)
                else:
                    graph.function_level_total += 1
                    if direct:
                        graph.function_level.setdefault((module, function), set()).update(direct)
                        graph.function_level_edges.setdefault(module, set()).update(loaded)
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            visit(child, module, is_package, inner)

    for name, path in modules.items():
        visit(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", None)
    return graph


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return cycles


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_graph_reader_finds_cycles_through_packages_and_function_level_imports(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.sub.b import thing\nimport os\n",
        "pkg/sub/__init__.py": "from pkg.sub import c\n",
        "pkg/sub/b.py": "thing = 1\n",
        # c imports a: a -> pkg.sub (its parent package runs first) -> c -> a is a cycle.
        "pkg/sub/c.py": "from . import b\nfrom ..a import thing\n",
        "pkg/d.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
                     "def f():\n    import json\n    from pkg.sub.b import thing\n    return thing\n"),
    })
    graph = build_import_graph(tmp_path, "pkg")
    assert graph.edges["pkg.a"] == {"pkg.sub", "pkg.sub.b"}
    assert graph.edges["pkg.sub"] == {"pkg.sub.c"}
    assert graph.edges["pkg.sub.c"] == {"pkg.sub.b", "pkg.a"}
    assert graph.edges["pkg.d"] == set()  # TYPE_CHECKING only; the function's imports are not edges
    assert import_cycles(graph.edges) == [["pkg.a", "pkg.sub", "pkg.sub.c"]]
    assert graph.function_level == {("pkg.d", "f"): {"pkg.sub.b"}}
    assert graph.function_level_edges == {"pkg.d": {"pkg.sub", "pkg.sub.b"}}
    assert graph.function_level_total == 2  # `import json` and the project import


def test_the_package_has_no_import_cycle() -> None:
    graph = build_import_graph(PACKAGE_DIR.parent)
    assert "saas_metrics.cli.app" in graph.modules and graph.edges["saas_metrics.runner"]
    assert import_cycles(graph.edges) == []


def test_the_package_has_no_cycle_even_through_deferred_imports() -> None:
    """A deferral is for load time only: with every function-level import as an edge, still no cycle."""
    graph = build_import_graph(PACKAGE_DIR.parent)
    edges = {module: set(targets) for module, targets in graph.edges.items()}
    for module, targets in graph.function_level_edges.items():
        edges[module] |= targets
    assert import_cycles(edges) == []


def test_project_imports_inside_functions_are_only_the_listed_deferrals() -> None:
    graph = build_import_graph(PACKAGE_DIR.parent)
    found = {site: frozenset(targets) for site, targets in graph.function_level.items()}
    assert found == {site: targets for site, (targets, _why) in DEFERRED_IMPORTS.items()}
    assert all(why for _targets, why in DEFERRED_IMPORTS.values())
