"""The layering rules, checked on the source: the core stays plain Python, local AWS stays a
separate product, and DAG files reach the core only through the adapters.

An AST scan (every import statement, function-level ones included) rather than a runtime check, so
an import hidden inside a function that no test happens to call is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _package_dir(name: str) -> Path:
    module = __import__(name)
    return Path(module.__file__).resolve().parent


def _imports(path: Path, *, top_level_only: bool = False) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _violations(files, forbidden: tuple[str, ...], *, top_level_only: bool = False, root: Path = REPO) -> list[str]:
    out = []
    for path in files:
        for line, module in _imports(path, top_level_only=top_level_only):
            if module.split(".")[0] in forbidden:
                out.append(f"{path.relative_to(root)}:{line} imports {module}")
    return out


@pytest.mark.parametrize(("package", "forbidden"), [
    ("fleet", ("airflow", "fleet_airflow", "localaws", "moto")),
    ("fleet_airflow", ("localaws", "moto")),
    ("localaws", ("fleet", "fleet_airflow", "airflow")),
])
def test_package_imports_stay_in_their_layer(package, forbidden):
    files = sorted(_package_dir(package).rglob("*.py"))
    assert files, f"no Python files found for {package}"
    assert _violations(files, forbidden) == []


def test_dag_files_import_only_the_adapters_at_the_top():
    dags = sorted((REPO / "dags").glob("*.py"))
    assert dags
    assert _violations(dags, ("fleet", "localaws", "moto"), top_level_only=True) == []


def test_the_scan_sees_function_level_imports(tmp_path):
    """The rule must catch the import a newcomer would hide inside a function."""
    hidden = tmp_path / "core.py"
    hidden.write_text("def f():\n    from airflow.sdk import task\n    return task\n")
    assert _violations([hidden], ("airflow",), root=tmp_path) == ["core.py:2 imports airflow.sdk"]
    assert _violations([hidden], ("airflow",), top_level_only=True, root=tmp_path) == []
