"""The catalog and approval sections of the fleet config: new keys, defaults and their errors."""

from __future__ import annotations

import shutil

import pytest

from fleet.config import ConfigError, load_config

from tests.support import REPO


def config(tmp_path, old: str, new: str):
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "include", repo)
    path = repo / "fleet.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path


def problems(path) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return str(err.value)


def test_sample_config_values():
    fleet = load_config(REPO / "include" / "fleet.yaml")
    assert fleet.approval.store == "s3" and fleet.approval.topic == "fleet-approvals" and fleet.approval.ui is True  # make up decides in Required actions
    assert fleet.catalog.launch_role_template == "templates/catalog-launch-role.yaml"
    assert fleet.catalog.tag_options == (("fleet:cost-center", "platform"), ("fleet:cost-center", "shared"))
    assert fleet.catalog.smoke_test.account == "canary-01"
    assert fleet.catalog.smoke_test.principal == "role/Developer"


def test_dynamodb_store_and_ui(tmp_path):
    path = config(tmp_path, "  store: s3 ", "  store: dynamodb\n  table: my-approvals #")
    path.write_text(path.read_text().replace("  ui: true ", "  ui: false "))
    fleet = load_config(path)
    assert (fleet.approval.store, fleet.approval.table, fleet.approval.ui) == ("dynamodb", "my-approvals", False)


@pytest.mark.parametrize("old, new, expected", [
    ("  store: s3 ", "  store: redis ", "approval.store: s3 or dynamodb, got 'redis'"),
    ("  ui: true ", "  ui: maybe ", "approval.ui: true or false"),
    ("  topic: fleet-approvals ", "  topic: 'no spaces allowed' ", "approval.topic: an SNS topic name"),
    ("    account: canary-01", "    account: nobody", "catalog.smoke_test.account: an account declared under accounts"),
    ("    principal: role/Developer\n\napproval", "    principal: user/bob\n\napproval",
     "catalog.smoke_test.principal: an IAM role"),
    ("  launch_role_template: templates/catalog-launch-role.yaml", "  launch_role_template: templates/none.yaml",
     "catalog.launch_role_template: an existing template file"),
    ("    fleet:cost-center: [platform, shared]", "    fleet:cost-center: []",
     "catalog.tag_options.fleet:cost-center: at least one tag value"),
])
def test_bad_values_are_named_with_their_key(tmp_path, old, new, expected):
    assert expected in problems(config(tmp_path, old, new))
