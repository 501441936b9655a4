"""House rules of the test suite itself."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# Suites being reworked on other branches of issue 10 at the time of writing (tests/gates by the
# rules work, tests/localaws by the move of local AWS into its own package): they still import
# their conftest. Remove an entry once its suite's helpers live in a module of their own.
NOT_YET = {"gates", "localaws"}


def conftest_imports(path: Path, root: Path = TESTS.parent) -> list[str]:
    """Each import of a conftest module in ``path``, as written."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[-1] == "conftest":
                level = "." * getattr(node, "level", 0)
                found.append(f"{path.relative_to(root)}:{node.lineno} imports {level}{name}")
    return found


def test_no_module_imports_a_conftest():
    # conftest.py is pytest's to load, once, under a name it chooses: imported again it is a second
    # module (its fixtures and module state twice). Shared helpers live in tests/support/.
    files = [p for p in sorted(TESTS.rglob("*.py"))
             if p.relative_to(TESTS).parts[0] not in NOT_YET]
    assert len(files) > 20, "the suite's files were not found"
    offenders = [line for p in files for line in conftest_imports(p)]
    assert offenders == []


def test_the_rule_sees_every_way_of_writing_the_import(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text("from .conftest import REPO\nfrom conftest import X\nimport tests.e2e.conftest\n"
                      "from tests.vending.conftest import run\nfrom tests.support import conftest_like\n")
    assert conftest_imports(sample, root=tmp_path) == [
        "test_sample.py:1 imports .conftest", "test_sample.py:2 imports conftest",
        "test_sample.py:3 imports tests.e2e.conftest", "test_sample.py:4 imports tests.vending.conftest"]


def test_the_shared_organization_is_seeded_again_after_a_reset(seeded_org, aws_server):
    # Any test may reset local AWS (tests/approval does, tests/localaws's seed tests do): the next
    # test on the shared organization must find it seeded again, not an empty world.
    from localaws.clients import client

    before = seeded_org.ensure()
    seeds = seeded_org.seeds
    assert seeded_org.ensure() == before and seeded_org.seeds == seeds  # no reset, no new seed
    aws_server.reset()
    after = seeded_org.ensure()
    assert seeded_org.seeds == seeds + 1 and set(after) == set(before)
    names = {a["Name"] for a in client("organizations", aws_server.endpoint_url).list_accounts()["Accounts"]}
    assert set(after) <= names
