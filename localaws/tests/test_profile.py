"""Behaviour profiles: validation, and every emulated state and fault against the AWS API reference.

One local AWS of this module's own, whose behaviour extension runs on a fake clock and a private
state, so the tests move time instead of sleeping (moto's backends are still the process's: tests
make their own organization members and stacks with unique names). Each test sets the profile it
needs; the ``use`` fixture restores the default afterwards.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localaws.behaviour import ProfileExtension
from localaws.behaviour.state import State
from localaws.clients import assume_role, client, session
from localaws.extensions import default_extensions
from localaws.behaviour.profile import (FAILURE_REASONS, ProfileError, get_profile, load_profile, set_profile,
                                        shipped_profiles)
from localaws.server import LocalAws

TEMPLATE = json.dumps({
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}, "Bucket": {"Type": "AWS::S3::Bucket"}},
    "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
})
TEMPLATE_V2 = json.dumps({
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "v2"}},
                  "Bucket": {"Type": "AWS::S3::Bucket"}},
    "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}, "Version": {"Value": "2"}},
})
NO_RETRIES = Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"})


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def behaviour(clock) -> ProfileExtension:
    return ProfileExtension(clock=clock, state=State())


@pytest.fixture(scope="module")
def aws(behaviour):
    others = [e for e in default_extensions() if not isinstance(e, ProfileExtension)]
    with LocalAws(extensions=[behaviour, *others]) as server:
        yield server


@pytest.fixture
def use(behaviour):
    """Apply a profile (dict, name or path) for one test."""

    def apply(profile):
        behaviour.profile = profile
        return behaviour.profile

    yield apply
    behaviour.profile = None


def _org(url: str, region: str = "us-east-1"):
    org = client("organizations", url, region)
    try:
        org.describe_organization()
    except org.exceptions.AWSOrganizationsNotInUseException:
        org.create_organization(FeatureSet="ALL")
    return org


def _name() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


def _account_names(org) -> set[str]:
    return {a["Name"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]}


def _status(org, request_id: str) -> dict:
    return org.describe_create_account_status(CreateAccountRequestId=request_id)["CreateAccountStatus"]


def _code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def _active(url: str) -> dict:
    """The server's profile, without its stats."""
    return {k: v for k, v in get_profile(url).items() if k != "stats"}


# -- validation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, key, expected", [
    ("organizations:\n  create_acount: {}\n", "organizations.create_acount", "unknown key"),
    ("cloudformation:\n  in_progress_seconds: soon\n", "cloudformation.in_progress_seconds",
     "expected a number of seconds"),
    ("organizations:\n  create_account:\n    failures:\n      x@example.com: TAKEN\n",
     "organizations.create_account.failures.x@example.com", "FailureReason"),
    ("throttling:\n  - {service: sts, rate: 1.5}\n", "throttling[0].rate", "a number from 0 to 1"),
    ("throttling:\n  - {service: sts}\n", "throttling[0].rate", "a number from 0 to 1"),
    ("throttling:\n  - {service: sts, rate: 0.1, operation: [GetCallerIdentity]}\n", "throttling[0].operation",
     "unknown key"),
    ("cloudformation:\n  fail_stacks:\n    - {accounts: [111111111111]}\n", "cloudformation.fail_stacks[0].accounts[0]",
     "12-digit account id in quotes"),
    ("seed: seven\n", "seed", "an integer"),
    ("throttling:\n  - {service: sts, rate: 0.1, requests_per_second: 5}\n", "throttling[0].rate",
     "either rate or requests_per_second"),
    ("throttling:\n  - {service: sts, rate: 0.1, burst: 5}\n", "throttling[0].burst", "only with requests_per_second"),
    ("throttling:\n  - {service: sts, requests_per_second: 0}\n", "throttling[0].requests_per_second", "above 0"),
    ("organizations: [1]\n", "organizations", "a mapping"),
    ("organizations:\n  create_account:\n    failures: {nobody: EMAIL_ALREADY_EXISTS}\n",
     "organizations.create_account.failures.nobody", "an email address"),
    ("throttling:\n  - {rate: 0.5}\n", "throttling[0].service", "a service's signing name"),
    ("cloudformation:\n  in_progress_seconds: true\n", "cloudformation.in_progress_seconds", "a number of seconds"),
])
def test_bad_profile_names_file_key_and_expectation(tmp_path, text, key, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert str(path) in message and f": {key}: " in message and expected in message, message
    assert "\n" not in message  # one line, for the CLI


def test_the_schema_is_the_json_schema_shipped_with_the_package_and_agrees_with_the_code():
    from jsonschema import Draft202012Validator

    from localaws.behaviour.profile import MAX_SECONDS, SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    failures = schema["properties"]["organizations"]["properties"]["create_account"]["properties"]["failures"]
    assert failures["additionalProperties"]["enum"] == list(FAILURE_REASONS)
    assert schema["properties"]["cloudformation"]["properties"]["in_progress_seconds"]["maximum"] == MAX_SECONDS
    for name in shipped_profiles():  # what editors validate the shipped files against
        import yaml

        from localaws.behaviour.profile import PROFILES_DIR

        data = yaml.safe_load((PROFILES_DIR / f"{name}.yaml").read_text())
        assert list(Draft202012Validator(schema).iter_errors(data)) == [], name


def test_every_problem_is_reported_with_its_line(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text("seed: x\ncloudformation:\n  in_progress_seconds: -1\nthrottling:\n  - {service: sts, burst: 2}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert [(p.key, p.line) for p in caught.value.problems] == [
        ("cloudformation.in_progress_seconds", 3), ("seed", 1), ("throttling[0].burst", 5)]


def test_bad_yaml_missing_file_and_unknown_name(tmp_path):
    (tmp_path / "broken.yaml").write_text("seed: [1\n")
    with pytest.raises(ProfileError, match=r"broken\.yaml:\d+: <root>: expected valid YAML"):
        load_profile(tmp_path / "broken.yaml")
    with pytest.raises(ProfileError, match=r"missing\.yaml: <root>: expected a readable profile file"):
        load_profile(tmp_path / "missing.yaml")
    with pytest.raises(ProfileError, match=r"no-such-profile: <root>: expected a shipped profile \(default, realistic"):
        load_profile("no-such-profile")
    with pytest.raises(ProfileError, match=r"<dict>: cloudformation.fail_stacks\[0\].resource: expected a logical"):
        load_profile({"cloudformation": {"fail_stacks": [{"resource": "my-bucket"}]}})


def test_shipped_profiles_load_and_round_trip():
    assert {"default", "realistic"} <= set(shipped_profiles())
    default, realistic = load_profile(None), load_profile("realistic")
    assert default == load_profile("default") and default.neutral and default.name == "default"
    assert not realistic.neutral
    assert realistic.organizations.create_account.failure_for("Taken@Example.com") == "EMAIL_ALREADY_EXISTS"
    assert realistic.organizations.create_account.failure_for("over-limit@example.com") == "ACCOUNT_LIMIT_EXCEEDED"
    assert realistic.organizations.create_account.in_progress_seconds > 0 and not realistic.throttling
    for profile in (default, realistic):
        assert load_profile(profile.to_dict()) == profile
        assert load_profile(json.loads(json.dumps(profile.to_dict()))) == profile


# -- the default profile ------------------------------------------------------------------------------
def test_default_profile_changes_nothing(aws, use, clock):
    use(None)
    assert _active(aws.endpoint_url) == load_profile("default").to_dict()
    org = _org(aws.endpoint_url)
    name = _name()
    status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED" and status["AccountId"]
    assert name in _account_names(org)
    creds = assume_role(aws.endpoint_url, status["AccountId"])
    assert client("sts", aws.endpoint_url, "eu-west-1", creds).get_caller_identity()["Account"] == status["AccountId"]
    cfn = client("cloudformation", aws.endpoint_url, credentials=creds)
    cfn.create_stack(StackName="plain", TemplateBody=TEMPLATE)
    stack = cfn.describe_stacks(StackName="plain")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE" and stack["Outputs"]
    events = [e["ResourceStatus"] for e in cfn.describe_stack_events(StackName="plain")["StackEvents"]]
    assert events == ["CREATE_COMPLETE", "CREATE_IN_PROGRESS"]  # moto's own, untouched
    cfn.delete_stack(StackName="plain")
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName="plain")


# -- Organizations: CreateAccount ---------------------------------------------------------------------
def test_create_account_in_progress_then_succeeded(aws, use, clock):
    use({"organizations": {"create_account": {"in_progress_seconds": 3}}})
    org = _org(aws.endpoint_url)
    name = _name()
    started = clock()
    status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
    assert status["State"] == "IN_PROGRESS" and "AccountId" not in status and "CompletedTimestamp" not in status
    request_id = status["Id"]
    seen = {status["State"]}
    clock.advance(2.9)
    assert _status(org, request_id)["State"] == "IN_PROGRESS"
    assert name not in _account_names(org)  # not in ListAccounts while in progress
    listed = {s["Id"]: s for s in org.list_create_account_status()["CreateAccountStatuses"]}
    assert listed[request_id]["State"] == "IN_PROGRESS"
    clock.advance(0.2)
    done = _status(org, request_id)
    seen.add(done["State"])
    assert seen == {"IN_PROGRESS", "SUCCEEDED"}
    assert done["CompletedTimestamp"].timestamp() == pytest.approx(started + 3, abs=0.01)
    account = org.describe_account(AccountId=done["AccountId"])["Account"]
    assert account["Name"] == name and account["JoinedTimestamp"].timestamp() == pytest.approx(started + 3, abs=0.01)
    assert name in _account_names(org)
    root = org.list_roots()["Roots"][0]["Id"]
    assert done["AccountId"] in {a["Id"] for a in org.list_accounts_for_parent(ParentId=root)["Accounts"]}
    # Its SCPs came with it.
    targets = org.list_policies_for_target(TargetId=done["AccountId"], Filter="SERVICE_CONTROL_POLICY")
    assert [p["Name"] for p in targets["Policies"]] == ["FullAWSAccess"]


def test_failed_creation_with_each_reason_creates_no_account(aws, use, clock):
    suffix = uuid.uuid4().hex[:8]
    failures = {f"r{i}-{suffix}@fail.example.com": reason for i, reason in enumerate(FAILURE_REASONS)}
    use({"organizations": {"create_account": {"in_progress_seconds": 1, "failures": failures}}})
    org = _org(aws.endpoint_url)
    before = _account_names(org)
    requests = {}
    for email, reason in failures.items():
        status = org.create_account(AccountName=email.split("@")[0], Email=email)["CreateAccountStatus"]
        assert status["State"] == "IN_PROGRESS"
        requests[status["Id"]] = reason
    clock.advance(1)
    for request_id, reason in requests.items():
        status = _status(org, request_id)
        assert status["State"] == "FAILED" and status["FailureReason"] == reason
        assert "AccountId" not in status and status["CompletedTimestamp"]
    assert _account_names(org) == before  # no account was created
    assert get_profile(aws.endpoint_url)["stats"]["create_account_failed"] == len(FAILURE_REASONS)
    failed = {s["Id"] for s in org.list_create_account_status(States=["FAILED"])["CreateAccountStatuses"]}
    assert set(requests) <= failed


def test_realistic_example_emails_fail(aws, use, clock):
    realistic = use("realistic")
    org = _org(aws.endpoint_url)
    taken = org.create_account(AccountName="taken", Email="taken@example.com")["CreateAccountStatus"]
    over = org.create_account(AccountName="over", Email="over-limit@example.com")["CreateAccountStatus"]
    clock.advance(realistic.organizations.create_account.in_progress_seconds)
    assert _status(org, taken["Id"])["FailureReason"] == "EMAIL_ALREADY_EXISTS"
    assert _status(org, over["Id"])["FailureReason"] == "ACCOUNT_LIMIT_EXCEEDED"
    assert not {"taken", "over"} & _account_names(org)


def test_list_create_account_status_filters_by_state_and_pages(aws, use, clock):
    suffix = uuid.uuid4().hex[:8]
    use({"organizations": {"create_account": {"in_progress_seconds": 5,
                                              "failures": {f"*-{suffix}@fail.example.com": "INVALID_EMAIL"}}}})
    org = _org(aws.endpoint_url)
    mine = {}
    for kind in ("ok", "bad"):
        email = f"{kind}-{suffix}@{'fail.' if kind == 'bad' else ''}example.com"
        mine[kind] = org.create_account(AccountName=f"{kind}-{suffix}", Email=email)["CreateAccountStatus"]["Id"]
    clock.advance(5)
    mine["running"] = org.create_account(AccountName=f"run-{suffix}",
                                         Email=f"run-{suffix}@example.com")["CreateAccountStatus"]["Id"]

    def listed(**kwargs):
        statuses, token = [], None
        for _ in range(200):  # moto's own paging never ends (its NextToken repeats): fail, do not hang
            page = org.list_create_account_status(MaxResults=1, **({"NextToken": token} if token else {}), **kwargs)
            assert len(page["CreateAccountStatuses"]) <= 1
            statuses += page["CreateAccountStatuses"]
            token = page.get("NextToken")
            if not token:
                return {s["Id"]: s["State"] for s in statuses}
        raise AssertionError("ListCreateAccountStatus paging does not end")

    everything = listed()
    assert everything[mine["ok"]] == "SUCCEEDED" and everything[mine["bad"]] == "FAILED"
    assert everything[mine["running"]] == "IN_PROGRESS"
    master = org.describe_organization()["Organization"]["MasterAccountId"]
    assert master not in {s.get("AccountId") for s in org.list_create_account_status()["CreateAccountStatuses"]}
    for state in ("IN_PROGRESS", "SUCCEEDED", "FAILED"):
        only = listed(States=[state])
        assert set(only.values()) == {state}
        assert {k for k, v in everything.items() if v == state} == set(only)
    both = listed(States=["FAILED", "IN_PROGRESS"])
    assert {mine["bad"], mine["running"]} <= set(both) and mine["ok"] not in both
    with pytest.raises(ClientError) as caught:
        org.list_create_account_status(States=["DONE"])
    assert _code(caught.value) == "InvalidInputException"
    clock.advance(5)  # let the running one finish before the next test


# -- a new account's role and regions -----------------------------------------------------------------
def test_role_then_home_region_then_other_regions(aws, use, clock):
    use({"organizations": {"role_assumable_after_seconds": 1, "regions_answer_after_seconds": 2}})
    url = aws.endpoint_url
    org = _org(url)
    name = _name()
    status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED"  # no creation delay in this profile
    account_id = status["AccountId"]
    with pytest.raises(ClientError) as caught:
        assume_role(url, account_id)
    assert _code(caught.value) == "AccessDenied" and caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"sts:AssumeRole on resource: arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole" in str(caught.value)
    clock.advance(1)
    creds = assume_role(url, account_id)
    assert client("sts", url, "us-east-1", creds).get_caller_identity()["Account"] == account_id
    assert client("iam", url, "eu-west-1", creds).list_roles()["Roles"]  # a global service answers
    other = {service: session(creds, "eu-west-1").client(service, endpoint_url=url, config=NO_RETRIES)
             for service in ("sts", "ssm", "s3")}
    refusals = {}
    for service, call in (("sts", lambda c: c.get_caller_identity()), ("ssm", lambda c: c.describe_parameters()),
                          ("s3", lambda c: c.list_buckets())):
        with pytest.raises(ClientError) as caught:
            call(other[service])
        refusals[service] = (_code(caught.value), caught.value.response["ResponseMetadata"]["HTTPStatusCode"])
    assert refusals == {"sts": ("InvalidClientTokenId", 403), "ssm": ("UnrecognizedClientException", 400),
                        "s3": ("InvalidAccessKeyId", 403)}
    # The management account's own credentials are not affected.
    assert client("sts", url, "eu-west-1").get_caller_identity()["Account"] != account_id
    clock.advance(2)
    assert other["sts"].get_caller_identity()["Account"] == account_id
    other["ssm"].describe_parameters()
    stats = get_profile(url)["stats"]
    assert (stats["assume_role_denied"], stats["region_refused"], stats["throttled"]) == (1, 3, 0)


def test_home_region_is_where_create_account_was_signed(aws, use, clock):
    use({"organizations": {"regions_answer_after_seconds": 1}})
    url = aws.endpoint_url
    org = _org(url, region="eu-west-1")
    name = _name()
    account_id = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
    creds = assume_role(url, account_id)
    assert client("sts", url, "eu-west-1", creds).get_caller_identity()["Account"] == account_id
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        session(creds, "us-east-1").client("sts", endpoint_url=url, config=NO_RETRIES).get_caller_identity()
    clock.advance(1)
    assert client("sts", url, "us-east-1", creds).get_caller_identity()["Account"] == account_id


# -- CloudFormation -----------------------------------------------------------------------------------
@pytest.fixture
def member(aws, use):
    """Clients in a fresh member account (made under the default profile)."""
    use(None)
    org = _org(aws.endpoint_url)
    name = _name()
    account_id = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
    creds = assume_role(aws.endpoint_url, account_id)

    class Member:
        id = account_id

        @staticmethod
        def client(service, region="us-east-1"):
            return client(service, aws.endpoint_url, region, creds)

    return Member


def _stack(cfn, name):
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def _events(cfn, name):
    """(logical id, status, reason) oldest first."""
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason")) for e in reversed(events)]


def _refused(call, code, match):
    with pytest.raises(ClientError) as caught:
        call()
    assert _code(caught.value) == code and match in str(caught.value), caught.value
    return caught.value


def test_stack_create_update_delete_take_time(aws, use, clock, member):
    use({"cloudformation": {"in_progress_seconds": 1}})
    cfn = member.client("cloudformation")
    cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
    stack = _stack(cfn, "app")
    assert stack["StackStatus"] == "CREATE_IN_PROGRESS" and "Outputs" not in stack
    assert {s["StackName"]: s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"]}["app"] == "CREATE_IN_PROGRESS"
    _refused(lambda: cfn.update_stack(StackName="app", TemplateBody=TEMPLATE_V2), "ValidationError",
             f"Stack:{stack['StackId']} is in CREATE_IN_PROGRESS state and can not be updated.")
    clock.advance(0.9)
    assert _stack(cfn, "app")["StackStatus"] == "CREATE_IN_PROGRESS"
    clock.advance(0.1)
    stack = _stack(cfn, "app")
    assert stack["StackStatus"] == "CREATE_COMPLETE" and [o["OutputKey"] for o in stack["Outputs"]] == ["TopicArn"]
    events = _events(cfn, "app")
    assert events[0] == ("app", "CREATE_IN_PROGRESS", "User Initiated") and events[-1] == ("app", "CREATE_COMPLETE", None)
    assert {("Topic", "CREATE_IN_PROGRESS"), ("Topic", "CREATE_COMPLETE"), ("Bucket", "CREATE_COMPLETE")} <= {
        e[:2] for e in events}
    stamps = [e["Timestamp"] for e in cfn.describe_stack_events(StackName="app")["StackEvents"]]
    assert (stamps[0] - stamps[-1]).total_seconds() == pytest.approx(1, abs=0.01)

    cfn.update_stack(StackName="app", TemplateBody=TEMPLATE_V2)
    stack = _stack(cfn, "app")
    assert stack["StackStatus"] == "UPDATE_IN_PROGRESS"
    assert [o["OutputKey"] for o in stack["Outputs"]] == ["TopicArn"]  # the previous outputs meanwhile
    clock.advance(1)
    stack = _stack(cfn, "app")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert sorted(o["OutputKey"] for o in stack["Outputs"]) == ["TopicArn", "Version"]
    assert [e[1] for e in _events(cfn, "app")][-3:] == [
        "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"]

    cfn.delete_stack(StackName="app")
    cfn.delete_stack(StackName="app")  # again while deleting: accepted, as on AWS
    assert _stack(cfn, "app")["StackStatus"] == "DELETE_IN_PROGRESS"  # still found by name
    clock.advance(1)
    _refused(lambda: cfn.describe_stacks(StackName="app"), "ValidationError", "does not exist")
    gone = cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]
    assert gone["StackStatus"] == "DELETE_COMPLETE"
    assert [e[1] for e in _events(cfn, stack["StackId"])][-2:] == ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"]


def test_change_set_execution_takes_time(aws, use, clock, member):
    use({"cloudformation": {"in_progress_seconds": 1}})
    cfn = member.client("cloudformation")
    created = cfn.create_change_set(StackName="cs-app", ChangeSetName="one", ChangeSetType="CREATE",
                                    TemplateBody=TEMPLATE)
    assert _stack(cfn, "cs-app")["StackStatus"] == "REVIEW_IN_PROGRESS"
    cfn.execute_change_set(ChangeSetName=created["Id"])
    assert _stack(cfn, "cs-app")["StackStatus"] == "CREATE_IN_PROGRESS"
    assert cfn.describe_change_set(ChangeSetName=created["Id"])["ExecutionStatus"] == "EXECUTE_IN_PROGRESS"
    _refused(lambda: cfn.execute_change_set(ChangeSetName=created["Id"]), "InvalidChangeSetStatus",
             "cannot be executed in its current status of [EXECUTE_IN_PROGRESS]")
    clock.advance(1)
    assert _stack(cfn, "cs-app")["StackStatus"] == "CREATE_COMPLETE"
    assert cfn.describe_change_set(ChangeSetName=created["Id"])["ExecutionStatus"] == "EXECUTE_COMPLETE"
    update = cfn.create_change_set(StackName="cs-app", ChangeSetName="two", ChangeSetType="UPDATE",
                                   TemplateBody=TEMPLATE_V2)
    cfn.execute_change_set(ChangeSetName=update["Id"])
    assert _stack(cfn, "cs-app")["StackStatus"] == "UPDATE_IN_PROGRESS"
    _refused(lambda: cfn.create_change_set(StackName="cs-app", ChangeSetName="three", ChangeSetType="UPDATE",
                                           TemplateBody=TEMPLATE), "ValidationError",
             "is in UPDATE_IN_PROGRESS state and can not be updated.")
    clock.advance(1)
    assert _stack(cfn, "cs-app")["StackStatus"] == "UPDATE_COMPLETE"


def test_fail_stacks_roll_back_and_delete_their_resources(aws, use, clock, member):
    use({"cloudformation": {"in_progress_seconds": 1, "fail_stacks": [
        {"accounts": [member.id], "stack_name": "fleet-*", "resource": "Topic", "reason": "Topic quota exceeded"}]}})
    cfn, sns, s3 = member.client("cloudformation"), member.client("sns"), member.client("s3")
    cfn.create_stack(StackName="fleet-baseline", TemplateBody=TEMPLATE)
    cfn.create_stack(StackName="other", TemplateBody=TEMPLATE)  # the rule's glob does not match
    stack_id = _stack(cfn, "fleet-baseline")["StackId"]
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                 for r in cfn.describe_stack_resources(StackName="fleet-baseline")["StackResources"]}
    assert _stack(cfn, "fleet-baseline")["StackStatus"] == "CREATE_IN_PROGRESS"
    clock.advance(1)
    stack = _stack(cfn, "fleet-baseline")
    assert stack["StackStatus"] == "ROLLBACK_IN_PROGRESS"
    assert stack["StackStatusReason"] == ("The following resource(s) failed to create: [Topic]. "
                                          "Rollback requested by user.")
    assert _stack(cfn, "other")["StackStatus"] == "CREATE_COMPLETE"
    clock.advance(1)
    stack = _stack(cfn, "fleet-baseline")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE" and "Outputs" not in stack
    events = _events(cfn, "fleet-baseline")
    assert ("Topic", "CREATE_FAILED", "Topic quota exceeded") in events
    statuses = [e[1] for e in events if e[0] == "fleet-baseline"]
    assert statuses == ["CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"]
    assert {("Topic", "DELETE_COMPLETE"), ("Bucket", "DELETE_COMPLETE")} <= {e[:2] for e in events}
    # Rolled back: the stack's resources are gone from their services, and from the stack.
    assert resources["Topic"] not in {t["TopicArn"] for t in sns.list_topics()["Topics"]}
    assert resources["Bucket"] not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert cfn.describe_stack_resources(StackName="fleet-baseline")["StackResources"] == []
    assert get_profile(aws.endpoint_url)["stats"]["stack_failed"] == 1
    assert {s["StackName"]: s["StackStatus"] for s in cfn.list_stacks(
        StackStatusFilter=["ROLLBACK_COMPLETE"])["StackSummaries"]} == {"fleet-baseline": "ROLLBACK_COMPLETE"}
    # AWS requires deleting it first.
    message = f"Stack:{stack_id} is in ROLLBACK_COMPLETE state and can not be updated."
    _refused(lambda: cfn.create_change_set(StackName="fleet-baseline", ChangeSetName="retry", ChangeSetType="UPDATE",
                                           TemplateBody=TEMPLATE), "ValidationError", message)
    _refused(lambda: cfn.update_stack(StackName="fleet-baseline", TemplateBody=TEMPLATE_V2), "ValidationError", message)
    _refused(lambda: cfn.create_stack(StackName="fleet-baseline", TemplateBody=TEMPLATE), "AlreadyExistsException",
             "already exists")
    cfn.delete_stack(StackName="fleet-baseline")
    assert _stack(cfn, "fleet-baseline")["StackStatus"] == "DELETE_IN_PROGRESS"
    clock.advance(1)
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    # A stack in another account does not match the rule's accounts.
    other_cfn = client("cloudformation", aws.endpoint_url)
    other_cfn.create_stack(StackName="fleet-elsewhere", TemplateBody=TEMPLATE)
    clock.advance(1)
    assert _stack(other_cfn, "fleet-elsewhere")["StackStatus"] == "CREATE_COMPLETE"
    other_cfn.delete_stack(StackName="fleet-elsewhere")
    clock.advance(1)


def test_failing_change_set_and_on_failure_options(aws, use, clock, member):
    use({"cloudformation": {"in_progress_seconds": 0.5, "fail_stacks": [{"stack_name": "doomed-*"}]}})
    cfn, sns = member.client("cloudformation"), member.client("sns")
    created = cfn.create_change_set(StackName="doomed-cs", ChangeSetName="one", ChangeSetType="CREATE",
                                    TemplateBody=TEMPLATE)
    cfn.execute_change_set(ChangeSetName=created["Id"])
    cfn.create_stack(StackName="doomed-kept", TemplateBody=TEMPLATE, OnFailure="DO_NOTHING")
    cfn.create_stack(StackName="doomed-gone", TemplateBody=TEMPLATE, OnFailure="DELETE")
    gone_id = _stack(cfn, "doomed-gone")["StackId"]
    clock.advance(0.5)
    kept = _stack(cfn, "doomed-kept")
    assert kept["StackStatus"] == "CREATE_FAILED"
    assert kept["StackStatusReason"].startswith("The following resource(s) failed to create: [Bucket].")
    assert cfn.describe_change_set(ChangeSetName=created["Id"])["ExecutionStatus"] == "EXECUTE_FAILED"
    _refused(lambda: cfn.execute_change_set(ChangeSetName=created["Id"]), "InvalidChangeSetStatus", "EXECUTE_FAILED")
    clock.advance(0.5)
    assert _stack(cfn, "doomed-cs")["StackStatus"] == "ROLLBACK_COMPLETE"
    assert _stack(cfn, "doomed-kept")["StackStatus"] == "CREATE_FAILED"  # DO_NOTHING: no rollback
    topic = {r["LogicalResourceId"]: r["PhysicalResourceId"]
             for r in cfn.describe_stack_resources(StackName="doomed-kept")["StackResources"]}["Topic"]
    assert topic in {t["TopicArn"] for t in sns.list_topics()["Topics"]}  # resources kept
    assert cfn.describe_stacks(StackName=gone_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    for name in ("doomed-cs", "doomed-kept"):
        cfn.delete_stack(StackName=name)
    clock.advance(0.5)


# -- throttling ---------------------------------------------------------------------------------------
THROTTLED = [
    # service, call, error code, HTTP status
    ("organizations", lambda c: c.describe_organization(), "TooManyRequestsException", 400),
    ("sts", lambda c: c.get_caller_identity(), "Throttling", 400),
    ("cloudformation", lambda c: c.describe_stacks(), "Throttling", 400),
    ("ssm", lambda c: c.describe_parameters(), "ThrottlingException", 400),
    ("s3", lambda c: c.list_buckets(), "SlowDown", 503),
]


def _raw(url: str, service: str):
    return session(None, "us-east-1").client(service, endpoint_url=url, config=NO_RETRIES)


def test_throttling_errors_are_what_botocore_retries(aws, use):
    from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

    use({"throttling": [{"service": service, "rate": 1.0} for service, *_ in THROTTLED]})
    for service, call, code, status in THROTTLED:
        with pytest.raises(ClientError) as caught:
            call(_raw(aws.endpoint_url, service))
        response = caught.value.response
        assert (_code(caught.value), response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status), service
        assert ThrottledRetryableChecker().is_retryable(RetryContext(attempt_number=1, parsed_response=response))
    # Local AWS's own paths are never throttled, whatever the profile.
    with urllib.request.urlopen(f"{aws.endpoint_url}/_localaws/profile", timeout=5) as resp:
        assert resp.status == 200
    environ = {"PATH_INFO": "/moto-api/data.json", "REQUEST_METHOD": "GET",
               "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/s3/aws4_request"}
    assert not ProfileExtension(profile={"throttling": [{"service": "s3", "rate": 1.0}]}).matches(environ)


def test_throttling_at_a_rate_and_retries_get_through(aws, use, monkeypatch):
    from botocore.retries import bucket, standard

    use({"seed": 11, "throttling": [{"service": "organizations", "rate": 0.3},
                                    {"service": "cloudformation", "operations": ["DescribeStacks"], "rate": 0.3}]})
    url = aws.endpoint_url
    org, cfn = _raw(url, "organizations"), _raw(url, "cloudformation")

    def errors(call, n):
        codes = []
        for _ in range(n):
            try:
                call()
            except ClientError as exc:
                if _code(exc) != "AWSOrganizationsNotInUseException":
                    codes.append(_code(exc))
        return codes

    seen = errors(lambda: org.list_roots(), 100)
    assert set(seen) == {"TooManyRequestsException"} and 20 <= len(seen) <= 40
    throttled = len(seen)
    seen = errors(lambda: cfn.describe_stacks(), 100)
    assert set(seen) == {"Throttling"} and 20 <= len(seen) <= 40
    assert errors(lambda: cfn.list_stacks(), 30) == []  # the rule names DescribeStacks only
    assert get_profile(url)["stats"]["throttled"] == throttled + len(seen)

    # The same seed gives the same decisions (after a profile change or a reset).
    use({"seed": 5, "throttling": [{"service": "sts", "rate": 0.5}]})
    sts = _raw(url, "sts")
    first = [bool(errors(lambda: sts.get_caller_identity(), 1)) for _ in range(40)]
    use({"seed": 5, "throttling": [{"service": "sts", "rate": 0.5}]})
    assert [bool(errors(lambda: sts.get_caller_identity(), 1)) for _ in range(40)] == first

    # The pipeline's retry settings complete every call. botocore's backoff and client-side rate
    # limiter are time-compressed here (the same code with smaller constants): against 30% random
    # throttling adaptive mode otherwise slows to its minimum rate, 100 calls in 70-110 s.
    monkeypatch.setitem(standard.ExponentialBackoff._DEFAULT_BACKOFF_CONFIG, "throttling_base_scale", 0.01)
    monkeypatch.setattr(bucket.TokenBucket.__init__, "__defaults__", (200.0,))
    use({"seed": 11, "throttling": [{"service": "organizations", "rate": 0.3},
                                    {"service": "cloudformation", "operations": ["DescribeStacks"], "rate": 0.3}]})
    adaptive = Config(retries={"mode": "adaptive", "max_attempts": 10})
    for service, call in (("organizations", lambda c: c.list_roots()), ("cloudformation", lambda c: c.describe_stacks())):
        retried = session(None, "us-east-1").client(service, endpoint_url=url, config=adaptive)
        retries = 0
        for _ in range(100):
            try:
                retries += call(retried)["ResponseMetadata"]["RetryAttempts"]
            except ClientError as exc:
                assert _code(exc) == "AWSOrganizationsNotInUseException", exc
                retries += exc.response["ResponseMetadata"]["RetryAttempts"]
        assert retries >= 15, (service, retries)  # throttled on the way, completed anyway


def test_throttling_by_requests_per_second_per_account(aws, use, clock, member):
    use({"throttling": [{"service": "sts", "requests_per_second": 2, "burst": 3}]})
    url = aws.endpoint_url
    sts = _raw(url, "sts")

    def answered(c, n):
        out = []
        for _ in range(n):
            try:
                c.get_caller_identity()
                out.append(True)
            except ClientError as exc:
                assert _code(exc) == "Throttling"
                out.append(False)
        return out

    assert answered(sts, 5) == [True, True, True, False, False]  # the burst, then the rate
    clock.advance(0.5)
    assert answered(sts, 2) == [True, False]  # 2 per second: one more after half a second
    member_sts = session(None, "us-east-1").client("sts", endpoint_url=url, config=NO_RETRIES)
    assert answered(member_sts, 1) == [False]  # the same account, other credentials: same bucket
    member_sts = member.client("sts")
    assert member_sts.get_caller_identity()["Account"] == member.id  # another account has its own
    clock.advance(10)
    assert answered(sts, 4) == [True, True, True, False]  # refilled up to the burst, no further


# -- reset and runtime control ------------------------------------------------------------------------
def test_reset_forgets_the_profiles_state(aws, use, behaviour, clock):
    use({"organizations": {"create_account": {"in_progress_seconds": 5}, "role_assumable_after_seconds": 5},
         "cloudformation": {"in_progress_seconds": 5}})
    org = _org(aws.endpoint_url)
    name = _name()
    request_id = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["Id"]
    client("cloudformation", aws.endpoint_url).create_stack(StackName="before-reset", TemplateBody=TEMPLATE)
    assert behaviour.state.creations and behaviour.state.jobs
    aws.reset()
    assert not behaviour.state.creations and not behaviour.state.jobs and not behaviour.state.young
    org = _org(aws.endpoint_url)
    clock.advance(10)
    assert _account_names(org) == {"master"}  # the forgotten creation does not land in the new organization
    assert org.list_create_account_status()["CreateAccountStatuses"] == []
    with pytest.raises(ClientError):
        _status(org, request_id)


def test_profile_can_be_changed_at_runtime(aws, use, tmp_path):
    url = aws.endpoint_url
    use(None)
    previous = set_profile(url, "realistic")
    assert previous == load_profile("default").to_dict()
    assert _active(url) == load_profile("realistic").to_dict()
    custom = tmp_path / "mine.yaml"
    custom.write_text("cloudformation:\n  in_progress_seconds: 2\n")
    assert set_profile(url, get_profile(url))["name"] == "realistic"  # what GET says can be PUT back
    assert set_profile(url, custom)["name"] == "realistic"
    assert get_profile(url)["name"] == "mine" and get_profile(url)["cloudformation"]["in_progress_seconds"] == 2
    # A bad profile is refused with its key; the active one stays.
    request = urllib.request.Request(f"{url}/_localaws/profile", method="PUT",
                                     data=json.dumps({"cloudformation": {"in_progress_seconds": -1}}).encode())
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 400
    message = json.loads(caught.value.read())["message"]
    assert message.startswith("PUT /_localaws/profile: cloudformation.in_progress_seconds: expected a number")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.request.Request(f"{url}/_localaws/profile", method="PUT", data=b"[1]"), timeout=5)
    assert caught.value.code == 400
    assert get_profile(url)["name"] == "mine"
    set_profile(url, previous)
    assert _active(url) == load_profile("default").to_dict()
