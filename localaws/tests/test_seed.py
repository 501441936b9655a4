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
    assert tags == {"tier": "workload", "team": "payments"}
    scps = [p for p in org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"] if not p["AwsManaged"]]
    assert [p["Name"] for p in scps] == ["deny-leave-organization"]
