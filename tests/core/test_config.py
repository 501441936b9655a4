"""The fleet config loader: every bad input names the file, the key path, the line and what was expected;
the published JSON Schema and the loader agree."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from fleet.config import Approval, ConfigError, Vending, account_requests, load_config

REPO = Path(__file__).resolve().parents[2]
SAMPLE = (REPO / "include" / "fleet.yaml").read_text()


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "include", tmp_path / "include")
    return tmp_path / "include"


def problems_of(fleet_dir: Path, text: str):
    path = fleet_dir / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    for p in err.value.problems:
        assert p.file == str(path)
    return err.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def only(problems, key: str):
    found = [p for p in problems if p.key == key]
    assert found, [str(p) for p in problems]
    return found[0]


def test_the_sample_fleet_is_valid():
    fleet = load_config(REPO / "include" / "fleet.yaml")
    assert len(fleet.accounts) == 14 and fleet.organization.management_account == "123456789012"
    assert [a.name for a in fleet.accounts_under(["Workloads"])][:3] == ["beta-test", "canary-01", "canary-02"]


@pytest.mark.parametrize("old, new, key, expected", [
    ('management_account: "123456789012"', 'management_account: "12345"',
     "organization.management_account", "12-digit AWS account id"),
    ("regions: [us-east-1, eu-west-1]", "regions: [us-east-1, mars-north-9x]",
     "organization.regions[1]", "an AWS region"),
    ("{name: canary-02, email: canary-02@example.com", "{name: canary-02, email: canary-01@example.com",
     "accounts[5].email", "a unique email"),
    ("{name: audit, email: audit@example.com, ou: Security", "{name: audit, email: audit@example.com, ou: Secruity",
     "accounts[0].ou", "an OU declared under ous"),
    ("{percent: 100}]", "{percent: 90}]", "environments.prod.waves[2]", "a last wave of {percent: 100}"),
    ("template: templates/security-baseline.yaml", "template: templates/missing.yaml",
     "baselines[1].template", "an existing template file"),
    ("  timeout_hours: 24", "  timeout_hours: 24\n  timout_minutes: 5",
     "approval.timout_minutes", "one of the known keys"),
    ("max_concurrent: 20", "max_concurrent: lots", "environments.prod.max_concurrent", "a whole number"),
    ("accounts: [beta-test]", "accounts: [beta-tset]", "environments.beta.accounts[0]",
     "an account declared under accounts"),
    ("services: [guardduty, securityhub, macie]", "services: [guardduty, inspector]",
     "guardrails.services[1]", "one of"),
])
def test_bad_value_names_file_key_line_and_expectation(fleet_dir, old, new, key, expected):
    assert old in SAMPLE
    text = SAMPLE.replace(old, new, 1)
    p = only(problems_of(fleet_dir, text), key)
    assert expected in p.expected
    needle = new.splitlines()[-1].split(":")[0].strip() if "\n" in new else new.split(",")[0].strip("{ ")
    assert p.line == line_of(text, needle), str(p)
    assert str(p).startswith(f"{fleet_dir / 'fleet.yaml'}:{p.line}: {key}: ")


def test_unparseable_yaml_names_the_line(fleet_dir):
    text = SAMPLE.replace("ous:\n", "ous: [\n", 1)
    (p,) = problems_of(fleet_dir, text)
    assert p.key == "" and "valid YAML" in p.expected and p.line is not None


def test_missing_section(fleet_dir):
    start = SAMPLE.index("environments:")
    end = SAMPLE.index("baselines:")
    p = only(problems_of(fleet_dir, SAMPLE[:start] + SAMPLE[end:]), "environments")
    assert "a mapping (missing)" in p.expected


def test_wrong_type(fleet_dir):
    p = only(problems_of(fleet_dir, SAMPLE.replace("ous:\n  - name: Security", "ous: Security\n  # - name: Security", 1)
                         .replace("  - name: Infrastructure\n  - name: Workloads\n    children:\n      - name: Beta\n"
                                  "      - name: Gamma\n      - name: Prod\n", "")), "ous")
    assert p.expected.startswith("a list")


def test_every_problem_is_reported_at_once(fleet_dir):
    text = SAMPLE.replace('"123456789012"', '"1"').replace("{percent: 100}]", "{percent: 50}]")
    problems = problems_of(fleet_dir, text)
    assert {"organization.management_account", "environments.prod.waves[2]"} <= {p.key for p in problems}
    assert [p.line for p in problems] == sorted(p.line for p in problems)


def test_unreadable_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.yaml")
    assert "cannot read the fleet config" in str(err.value)


def test_the_dag_refuses_a_bad_config_before_anything_is_uploaded(fleet_dir, monkeypatch):
    """The Source stage validates the config of the snapshot before touching AWS."""
    from fleet.stages import source

    (fleet_dir / "fleet.yaml").write_text(SAMPLE.replace('"123456789012"', '"1"'))

    class NoAws:
        def __getattr__(self, name):
            raise AssertionError(f"AWS used: {name}")

    with pytest.raises(ConfigError, match="organization.management_account"):
        source.snapshot_and_upload(NoAws(), fleet_dir)


# -- the published schema ----------------------------------------------------------------------

SCHEMA_PATH = REPO / "plugins" / "fleet" / "schemas" / "fleet.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())


def test_fleet_yaml_names_the_published_schema_for_editors():
    first = SAMPLE.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    assert (REPO / "include" / first.split("$schema=", 1)[1]).resolve() == SCHEMA_PATH


def test_the_published_schema_accepts_the_sample_fleet():
    """What an editor does with the file: plain jsonschema, no fleet code."""
    Draft202012Validator.check_schema(SCHEMA)
    assert list(Draft202012Validator(SCHEMA).iter_errors(yaml.safe_load(SAMPLE))) == []


def _schemas(node, where="#"):
    if isinstance(node, dict):
        yield where, node
        for k, v in node.items():
            yield from _schemas(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _schemas(v, f"{where}/{i}")


def test_every_key_is_described_and_every_pattern_explained():
    defs = SCHEMA["$defs"]
    for where, node in _schemas(SCHEMA):
        for name, prop in node.get("properties", {}).items():
            target = defs[prop["$ref"].rsplit("/", 1)[1]] if "$ref" in prop else {}
            assert "description" in prop or "description" in target, f"{where}/properties/{name}"
        if "pattern" in node:
            assert "errorMessage" in node, f"{where}: a pattern needs the shape in words"


@pytest.mark.parametrize("section, model, skip", [
    ("vending", Vending, {"backend"}),  # vending.backend defaults to organization.vending
    ("approval", Approval, {"approvers", "timeout_hours"}),
])
def test_schema_defaults_are_the_models_defaults(section, model, skip):
    props = SCHEMA["properties"][section]["properties"]
    for f in dataclasses.fields(model):
        if f.name not in skip:
            assert props[f.name]["default"] == f.default, f.name
    assert SCHEMA["properties"]["approval"]["properties"]["timeout_hours"]["default"] == 24


@pytest.mark.parametrize("old, new, needle", [
    ('management_account: "123456789012"', 'management_account: "12345"', "management_account"),
    ("  home_region: us-east-1", "  home_region: us-east-1\n  colour: blue", "colour"),
    ("{name: audit, email: audit@example.com, ou: Security, tags: {tier: core}}",
     "{name: audit, ou: Security, tags: {tier: core}}", "{name: audit"),
    ("{name: audit, email: audit@example.com", "{name: audit, email: audit-at-example.com", "{name: audit"),
    ("  store: s3 ", "  store: ftp ", "store: ftp"),
    ("max_concurrent: 20", "max_concurrent: 0", "max_concurrent"),
    ("{count: 1}", "{count: 1, pace: fast}", "{count: 1"),
    ("  ui: true ", "  ui: 3 ", "ui: 3"),
    ("tags: {tier: core}}", "tags: {tier: [core]}}", "{name: audit"),
    ("    fleet:cost-center: [platform, shared]", "    fleet:cost-center: []", "fleet:cost-center"),
    ("    account: canary-01\n", "", "smoke_test:"),
    ("  smoke_test:  ", "  smoke_test: true\n  #  ", "smoke_test: true"),
])
def test_the_loader_refuses_what_the_schema_refuses_at_the_right_line(fleet_dir, old, new, needle):
    assert old in SAMPLE
    text = SAMPLE.replace(old, new, 1)
    if "smoke_test: true" in new:
        text = text.replace("    account: canary-01\n    principal: role/Developer\n", "", 1)
    errors = list(Draft202012Validator(SCHEMA).iter_errors(yaml.safe_load(text)))
    assert errors, "the schema accepts this change: not a case for this test"
    problems = problems_of(fleet_dir, text)
    for error in errors:
        for key in _loader_keys(error):
            found = [p for p in problems if p.key == key]
            assert found, (key, [str(p) for p in problems])
            assert found[0].line == line_of(text, needle), str(found[0])
            assert "'^" not in found[0].expected, "a regular expression shown to a person"


def _loader_keys(error) -> set[str]:
    """The key path the loader names for a jsonschema error: for a missing or unknown key, the key
    inside the mapping jsonschema names."""
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    if error.validator == "required":
        names = {n for n in error.validator_value if n not in error.instance}
    elif error.validator == "additionalProperties":
        names = {n for n in error.instance if n not in error.schema.get("properties", {})}
    else:
        return {where}
    return {f"{where}.{n}" if where else n for n in names}


def test_problem_messages_say_what_was_expected_in_words(fleet_dir):
    text = (SAMPLE.replace("  home_region: us-east-1", "  home_region: us-east-1\n  colour: blue", 1)
            .replace("  store: s3 ", "  store: ftp ", 1)
            .replace("{name: audit, email: audit@example.com", "{name: audit, email: audit-at-example.com", 1))
    found = {p.key: p.expected for p in problems_of(fleet_dir, text)}
    assert found["organization.colour"] == ("one of the known keys ['home_region', 'management_account', "
                                            "'pipeline_role', 'regions', 'vending']")
    assert found["approval.store"] == "s3 or dynamodb, got 'ftp'"
    assert found["accounts[0].email"] == "an email address of at most 64 characters, got 'audit-at-example.com'"


def test_account_requests_are_checked_by_the_schemas_account_definition():
    fleet = load_config(REPO / "include" / "fleet.yaml")
    (ok,) = account_requests([{"name": "new-one", "email": "new-one@example.com", "ou": "Prod", "tags": {"n": 1}}],
                             fleet)
    assert (ok.name, ok.ou, ok.tags) == ("new-one", "Prod", {"n": "1"})
    with pytest.raises(ConfigError) as err:
        account_requests([{"name": "a", "email": "a@example.com", "ou": "Prod", "team": "x"},
                          {"name": "a", "email": "A@example.com", "ou": "Nowhere"}, "b"], fleet)
    assert [str(p) for p in err.value.problems] == [
        "the accounts Param: accounts[0].team: one of the known keys ['email', 'name', 'ou', 'tags']",
        "the accounts Param: accounts[2]: a mapping, got 'b'",
        "the accounts Param: accounts[1].ou: an OU declared under ous (Beta, Gamma, Infrastructure, Prod, "
        "Security, Workloads), got 'Nowhere'",
        "the accounts Param: accounts[1].name: a unique account name, 'a' appears twice",
        "the accounts Param: accounts[1].email: a unique email (AWS refuses a second account with 'A@example.com')",
    ]


def test_a_key_left_out_takes_the_default_the_schema_documents(fleet_dir):
    doc = yaml.safe_load(SAMPLE)
    prod, catalog, approval = doc["environments"]["prod"], doc["catalog"], doc["approval"]
    for section, key in [(prod, "max_concurrent"), (prod, "failure_tolerance"), (doc["environments"]["gamma"],
                         "bake_minutes"), (catalog, "keep_versions"), (catalog["portfolio"], "provider"),
                         (catalog["products"][0], "owner"), (catalog["smoke_test"], "principal"),
                         (approval, "timeout_hours"), (approval, "store"), (approval, "topic"), (approval, "ui")]:
        del section[key]
    (fleet_dir / "fleet.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    fleet = load_config(fleet_dir / "fleet.yaml")
    props = SCHEMA["properties"]
    env = props["environments"]["properties"]
    cat = props["catalog"]["properties"]
    assert fleet.environments.max_concurrent == env["prod"]["properties"]["max_concurrent"]["default"]
    assert fleet.environments.failure_tolerance == env["prod"]["properties"]["failure_tolerance"]["default"]
    assert fleet.environments.bake_minutes == env["gamma"]["properties"]["bake_minutes"]["default"]
    assert fleet.catalog.keep_versions == cat["keep_versions"]["default"]
    assert fleet.catalog.provider == cat["portfolio"]["properties"]["provider"]["default"]
    assert fleet.catalog.products[0].owner == SCHEMA["$defs"]["product"]["properties"]["owner"]["default"]
    assert fleet.catalog.smoke_test.principal == cat["smoke_test"]["properties"]["principal"]["default"]
    appr = props["approval"]["properties"]
    assert (fleet.approval.timeout_hours, fleet.approval.store, fleet.approval.topic, fleet.approval.ui) == (
        appr["timeout_hours"]["default"], appr["store"]["default"], appr["topic"]["default"], appr["ui"]["default"])
    assert fleet.guardrails.securityhub_standards == tuple(
        props["guardrails"]["properties"]["securityhub_standards"]["default"])


def test_a_fleet_of_a_thousand_accounts_loads_and_a_list_too_long_is_named_by_its_count(fleet_dir):
    # The per-run cap on vending requests once sat on the config's accounts too: no real fleet loaded.
    cfg = yaml.safe_load(SAMPLE)
    cfg["accounts"] += [{"name": f"prod-{i:04d}", "email": f"prod-{i:04d}@example.com", "ou": "Prod"}
                        for i in range(1000)]
    (fleet_dir / "fleet.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert len(load_config(fleet_dir / "fleet.yaml").accounts) == 1014
    fleet = load_config(REPO / "include" / "fleet.yaml")
    with pytest.raises(ConfigError) as err:
        account_requests([{"name": f"n{i}", "email": f"n{i}@example.com", "ou": "Prod"} for i in range(500)], fleet)
    (problem,) = err.value.problems
    assert str(problem) == "the accounts Param: accounts: at most 20 account requests per run, got 500"
