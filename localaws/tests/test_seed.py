"""seed_organization: the sample fleet, twice."""

import yaml
from localaws_support import SAMPLE_FLEET

from localaws.clients import client
from localaws.seed import seed_organization


def test_seed_is_idempotent(local_aws):
    local_aws.reset()

    first = seed_organization(local_aws.endpoint_url, SAMPLE_FLEET)
    second = seed_organization(local_aws.endpoint_url, SAMPLE_FLEET)

    assert first == second
    names = {a["name"] for a in yaml.safe_load(SAMPLE_FLEET.read_text())["accounts"]}
    assert len(first) == 14 and set(first) == names
    org = client("organizations", local_aws.endpoint_url)
    accounts = org.list_accounts()["Accounts"]
    assert len(accounts) == 15  # the management account and the 14 members, no duplicates

    root = org.list_roots()["Roots"][0]["Id"]
    top = {ou["Name"]: ou["Id"] for ou in org.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"]}
    assert set(top) == {"Security", "Infrastructure", "Workloads"}
    nested = org.list_organizational_units_for_parent(ParentId=top["Workloads"])["OrganizationalUnits"]
    assert {ou["Name"] for ou in nested} == {"Beta", "Gamma", "Prod"}
    prod = next(ou["Id"] for ou in nested if ou["Name"] == "Prod")
    in_prod = {a["Id"] for a in org.list_accounts_for_parent(ParentId=prod)["Accounts"]}
    assert in_prod == {first[f"app-prod-0{i}"] for i in range(1, 9)}

    tags = {t["Key"]: t["Value"] for t in org.list_tags_for_resource(ResourceId=first["app-prod-01"])["Tags"]}
    assert tags == {"tier": "workload", "team": "payments", "vpc_cidr": "10.101.0.0/16"}
    scps = [p for p in org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"] if not p["AwsManaged"]]
    assert [p["Name"] for p in scps] == ["deny-leave-organization"]


def test_a_bad_fleet_config_names_file_key_and_line(tmp_path):
    import pytest

    from localaws.seed_config import SeedError, read_seed_config

    path = tmp_path / "fleet.yaml"
    path.write_text("ous:\n  - name: Prod\naccounts:\n  - {name: a, email: a@example.com, ou: Nowhere}\n"
                    "  - {name: b, ou: Prod}\nguardrails:\n  scps: policy.json\n")
    with pytest.raises(SeedError) as caught:
        read_seed_config(path)
    assert str(caught.value).splitlines() == [
        f"{path}:5: accounts[1].email: expected a non-empty string",
        f"{path}:7: guardrails.scps: expected a list of paths to SCP documents",
        f"{path}:4: accounts[0].ou: expected an OU declared under ous (one of Prod)",
    ]


def test_up_refuses_a_bad_fleet_config_before_starting(tmp_path, capsys):
    from localaws import daemon

    path = tmp_path / "fleet.yaml"
    path.write_text("accounts: {}\n")
    assert daemon.up(port=1, config=path, state_dir=tmp_path / "state") == daemon.USAGE
    assert capsys.readouterr().err.strip() == f"local AWS: bad fleet config {path}: {path}:1: accounts: expected a list"
    assert not (tmp_path / "state" / "state.json").exists()


def test_only_what_seeding_needs_is_read(tmp_path):
    from localaws.seed_config import read_seed_config

    path = tmp_path / "fleet.yaml"
    path.write_text("organization: {anything: [1, 2]}\nenvironments: 3\nous:\n  - name: Top\n    children: [{name: Leaf}]\n"
                    "accounts:\n  - {name: a, email: a@example.com, ou: Leaf, tags: {tier: 1}}\n")
    config = read_seed_config(path)
    assert [ou.name for ou in config.ous] == ["Top"] and config.ous[0].children[0].name == "Leaf"
    assert config.accounts[0].tags == {"tier": "1"} and config.scps == () and config.root == tmp_path.resolve()
