"""Local AWS is a package of its own: nothing in it imports the product (``fleet``,
``fleet_airflow``), and its modules import each other without a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import localaws

PACKAGE = Path(localaws.__file__).resolve().parent
PRODUCT = ("fleet", "fleet_airflow")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """Every module ``name`` imports (absolute names), anywhere in the file, with its line."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def test_the_scan_sees_the_package():
    modules = _modules()
    assert {"localaws", "localaws.server", "localaws.seed", "localaws.behaviour"} <= set(modules)


def test_no_module_of_localaws_imports_the_product():
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {imported}"
                 for name, path in _modules().items() for imported, line in _imports(name, path)
                 if imported.split(".")[0] in PRODUCT]
    assert offenders == []


def test_the_scan_would_catch_an_import_of_the_product(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from fleet.config import load_config\n    import fleet_airflow\n")
    assert [i for i, _ in _imports("localaws.probe", probe)] == ["fleet.config", "fleet.config.load_config",
                                                                 "fleet_airflow"]


def test_no_import_circle_between_the_modules_of_localaws():
    modules = _modules()
    def with_parents(imported: str) -> set[str]:
        # Importing a.b.c runs a/__init__ and a/b/__init__ first: those are imports too.
        parts = imported.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}

    graph = {name: sorted({m for imported, _ in _imports(name, path) for m in with_parents(imported)
                           if m in modules} - {name})
             for name, path in modules.items()}
    # A package imports its own submodules to export them; that is not a circle of jobs.
    graph = {name: [d for d in deps if not d.startswith(name + ".")] for name, deps in graph.items()}
    circles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            if state.get(dep) == 1:
                circles.append(" -> ".join([*stack[stack.index(dep):], dep]))
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    assert circles == []
