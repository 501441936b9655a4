"""GuardDuty, Security Hub and Macie in member accounts, as their API references document them
(localaws.guardrails). Each "already enabled" answer is checked for its error code and HTTP status,
because that is what the vending pipeline treats as success."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError


REGIONS = ("us-east-1", "eu-west-1")
FSBP = "arn:aws:securityhub:{region}::standards/aws-foundational-security-best-practices/v/1.0.0"
CIS_120 = "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0"
CIS_140 = "arn:aws:securityhub:{region}::standards/cis-aws-foundations-benchmark/v/1.4.0"
NIST = "arn:aws:securityhub:{region}::standards/nist-800-53/v/5.0.0"
PCI = "arn:aws:securityhub:{region}::standards/pci-dss/v/3.2.1"


def error(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = exc_info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def new_member(ctx) -> str:
    """A fresh member account, so each test starts with every guardrail off."""
    org = ctx.client("organizations")
    name = f"guarded-{uuid.uuid4().hex[:8]}"
    status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
    for _ in range(50):
        if status["State"] != "IN_PROGRESS":
            break
        time.sleep(0.1)
        status = org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED", status
    return status["AccountId"]


@pytest.fixture
def fleet(organization):
    """(management AwsContext, a fresh member account id, another one)."""
    return organization, new_member(organization), new_member(organization)


# -- GuardDuty --------------------------------------------------------------------------------------

def test_guardduty_one_detector_per_account_and_region(fleet):
    ctx, member, _ = fleet
    for region in REGIONS:
        gd = ctx.client("guardduty", member, region)
        assert gd.list_detectors()["DetectorIds"] == []
        detector = gd.create_detector(Enable=True)["DetectorId"]
        assert gd.get_detector(DetectorId=detector)["Status"] == "ENABLED"
        with pytest.raises(ClientError) as again:
            gd.create_detector(Enable=True)
        assert error(again) == (
            "BadRequestException", 400,
            "The request is rejected because a detector already exists for the current account.")
        assert gd.list_detectors()["DetectorIds"] == [detector]


def test_guardduty_concurrent_creates_make_one_detector(fleet):
    ctx, member, _ = fleet
    gd = ctx.client("guardduty", member, "us-east-1")

    def create(_: int) -> str:
        try:
            return gd.create_detector(Enable=True)["DetectorId"]
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, range(8)))
    assert sorted(answers).count("BadRequestException") == 7
    assert len(gd.list_detectors()["DetectorIds"]) == 1


# -- Security Hub -----------------------------------------------------------------------------------

def test_securityhub_before_enabling_is_invalid_access(fleet):
    ctx, member, _ = fleet
    sh = ctx.client("securityhub", member, "us-east-1")
    calls = [sh.describe_hub, sh.get_enabled_standards, sh.describe_standards,
             lambda: sh.batch_enable_standards(StandardsSubscriptionRequests=[
                 {"StandardsArn": FSBP.format(region="us-east-1")}])]
    for call in calls:
        with pytest.raises(ClientError) as denied:
            call()
        code, status, _ = error(denied)
        assert (code, status) == ("InvalidAccessException", 401)


def test_securityhub_already_subscribed_is_a_conflict(fleet):
    ctx, member, _ = fleet
    sh = ctx.client("securityhub", member, "us-east-1")
    sh.enable_security_hub(EnableDefaultStandards=False)
    with pytest.raises(ClientError) as again:
        sh.enable_security_hub(EnableDefaultStandards=False)
    assert error(again) == ("ResourceConflictException", 409, "Account is already subscribed to Security Hub")
    assert sh.describe_hub()["HubArn"] == f"arn:aws:securityhub:us-east-1:{member}:hub/default"
    assert sh.get_enabled_standards()["StandardsSubscriptions"] == []


def test_securityhub_default_standards_unless_opted_out(fleet):
    ctx, member, other = fleet
    region = "eu-west-1"
    sh = ctx.client("securityhub", member, region)
    sh.enable_security_hub()  # EnableDefaultStandards defaults to true
    enabled = {s["StandardsArn"] for s in sh.get_enabled_standards()["StandardsSubscriptions"]}
    assert enabled == {FSBP.format(region=region), CIS_120}
    # Disabling the hub drops its subscriptions; enabling again without defaults has none.
    sh.disable_security_hub()
    with pytest.raises(ClientError) as gone:
        sh.describe_hub()
    assert error(gone)[0] == "InvalidAccessException"
    sh.enable_security_hub(EnableDefaultStandards=False)
    assert sh.get_enabled_standards()["StandardsSubscriptions"] == []
    # State is per account and per Region.
    with pytest.raises(ClientError):
        ctx.client("securityhub", member, "us-east-1").describe_hub()
    with pytest.raises(ClientError):
        ctx.client("securityhub", other, region).describe_hub()


def test_describe_standards_lists_the_regional_arns_in_pages(fleet):
    ctx, member, _ = fleet
    region = "eu-west-1"
    sh = ctx.client("securityhub", member, region)
    sh.enable_security_hub(EnableDefaultStandards=False)
    standards, token, pages = [], None, 0
    while True:
        page = sh.describe_standards(MaxResults=2, **({"NextToken": token} if token else {}))
        standards += page["Standards"]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    arns = [s["StandardsArn"] for s in standards]
    assert pages > 2 and len(arns) == len(set(arns))
    for arn in (FSBP, CIS_120, CIS_140, NIST, PCI):
        assert arn.format(region=region) in arns
    by_arn = {s["StandardsArn"]: s for s in standards}
    assert by_arn[FSBP.format(region=region)]["Name"] == "AWS Foundational Security Best Practices v1.0.0"
    assert by_arn[CIS_120]["EnabledByDefault"] is True and by_arn[PCI.format(region=region)]["EnabledByDefault"] is False


def test_batch_enable_standards_is_idempotent_and_all_or_nothing(fleet):
    ctx, member, _ = fleet
    region = "us-east-1"
    sh = ctx.client("securityhub", member, region)
    sh.enable_security_hub(EnableDefaultStandards=False)
    wanted = [FSBP.format(region=region), CIS_120]
    first = sh.batch_enable_standards(StandardsSubscriptionRequests=[{"StandardsArn": a} for a in wanted])
    subs = first["StandardsSubscriptions"]
    assert [s["StandardsArn"] for s in subs] == wanted
    assert {s["StandardsStatus"] for s in subs} == {"PENDING"}
    assert [s["StandardsSubscriptionArn"] for s in subs] == [
        f"arn:aws:securityhub:{region}:{member}:subscription/aws-foundational-security-best-practices/v/1.0.0",
        f"arn:aws:securityhub:{region}:{member}:subscription/cis-aws-foundations-benchmark/v/1.2.0"]
    enabled = sh.get_enabled_standards()["StandardsSubscriptions"]
    assert [(s["StandardsArn"], s["StandardsStatus"]) for s in enabled] == [(a, "READY") for a in wanted]

    # Enabling an enabled standard answers its existing subscription, no error, nothing added.
    again = sh.batch_enable_standards(StandardsSubscriptionRequests=[{"StandardsArn": wanted[0]}])
    assert again["StandardsSubscriptions"][0]["StandardsSubscriptionArn"] == subs[0]["StandardsSubscriptionArn"]
    assert again["StandardsSubscriptions"][0]["StandardsStatus"] == "READY"
    assert len(sh.get_enabled_standards()["StandardsSubscriptions"]) == 2

    # An unknown ARN (or another Region's) rejects the whole request: PCI is not enabled either.
    for bad in ("arn:aws:securityhub:us-east-1::standards/no-such-standard/v/1.0.0", FSBP.format(region="eu-west-1")):
        with pytest.raises(ClientError) as rejected:
            sh.batch_enable_standards(StandardsSubscriptionRequests=[
                {"StandardsArn": PCI.format(region=region)}, {"StandardsArn": bad}])
        code, status, message = error(rejected)
        assert (code, status) == ("InvalidInputException", 400) and bad in message
    assert len(sh.get_enabled_standards()["StandardsSubscriptions"]) == 2


def test_get_enabled_standards_pages_and_batch_disable(fleet):
    ctx, member, _ = fleet
    region = "us-east-1"
    sh = ctx.client("securityhub", member, region)
    sh.enable_security_hub(EnableDefaultStandards=False)
    wanted = [FSBP.format(region=region), CIS_140.format(region=region), NIST.format(region=region)]
    sh.batch_enable_standards(StandardsSubscriptionRequests=[{"StandardsArn": a} for a in wanted])
    first = sh.get_enabled_standards(MaxResults=2)
    rest = sh.get_enabled_standards(MaxResults=2, NextToken=first["NextToken"])
    assert [s["StandardsArn"] for s in first["StandardsSubscriptions"] + rest["StandardsSubscriptions"]] == wanted
    assert "NextToken" not in rest
    paged = [s for page in sh.get_paginator("get_enabled_standards").paginate(PaginationConfig={"PageSize": 1})
             for s in page["StandardsSubscriptions"]]
    assert [s["StandardsArn"] for s in paged] == wanted
    with pytest.raises(ClientError) as bad_token:
        sh.get_enabled_standards(NextToken="not-a-token")
    assert error(bad_token)[0] == "InvalidInputException"

    nist = paged[2]["StandardsSubscriptionArn"]
    disabled = sh.batch_disable_standards(StandardsSubscriptionArns=[nist])["StandardsSubscriptions"]
    assert [(s["StandardsSubscriptionArn"], s["StandardsStatus"]) for s in disabled] == [(nist, "DELETING")]
    assert [s["StandardsArn"] for s in sh.get_enabled_standards()["StandardsSubscriptions"]] == wanted[:2]
    with pytest.raises(ClientError) as twice:
        sh.batch_disable_standards(StandardsSubscriptionArns=[nist])
    assert error(twice)[:2] == ("InvalidInputException", 400)


# -- Macie ------------------------------------------------------------------------------------------

def test_macie_model_lists_conflict_for_enable_macie(local_aws):
    """botocore's macie2 model: EnableMacie can answer ConflictException (HTTP 409)."""
    from localaws.clients import client

    model = client("macie2", local_aws.endpoint_url).meta.service_model
    errors = {shape.name: shape.metadata.get("error", {}).get("httpStatusCode")
              for shape in model.operation_model("EnableMacie").error_shapes}
    assert errors["ConflictException"] == 409 and errors["AccessDeniedException"] == 403


def test_macie_is_off_until_enabled_and_enabling_twice_conflicts(fleet):
    ctx, member, other = fleet
    macie = ctx.client("macie2", member, "us-east-1")
    with pytest.raises(ClientError) as off:
        macie.get_macie_session()
    assert error(off) == ("AccessDeniedException", 403, "Macie is not enabled")

    macie.enable_macie()
    session = macie.get_macie_session()
    assert session["status"] == "ENABLED"
    assert session["serviceRole"].startswith(f"arn:aws:iam::{member}:role/aws-service-role/macie.amazonaws.com/")
    with pytest.raises(ClientError) as again:
        macie.enable_macie(status="ENABLED")
    code, status, _ = error(again)
    assert (code, status) == ("ConflictException", 409)

    # Paused is still enabled: EnableMacie conflicts, UpdateMacieSession resumes.
    macie.update_macie_session(status="PAUSED")
    assert macie.get_macie_session()["status"] == "PAUSED"
    with pytest.raises(ClientError) as paused:
        macie.enable_macie()
    assert error(paused)[0] == "ConflictException"
    macie.update_macie_session(status="ENABLED", findingPublishingFrequency="ONE_HOUR")
    assert macie.get_macie_session()["findingPublishingFrequency"] == "ONE_HOUR"

    macie.disable_macie()
    with pytest.raises(ClientError) as disabled:
        macie.get_macie_session()
    assert error(disabled)[0] == "AccessDeniedException"
    macie.enable_macie()
    assert macie.get_macie_session()["status"] == "ENABLED"

    # Per account and per Region.
    for region, account in (("eu-west-1", member), ("us-east-1", other)):
        with pytest.raises(ClientError) as elsewhere:
            ctx.client("macie2", account, region).get_macie_session()
        assert error(elsewhere)[0] == "AccessDeniedException"


# -- reset (last: it empties the organization the module shares) -------------------------------------

def test_reset_forgets_every_guardrail(local_aws, fleet):
    ctx, member, _ = fleet
    region = "us-east-1"
    ctx.client("guardduty", member, region).create_detector(Enable=True)
    sh = ctx.client("securityhub", member, region)
    sh.enable_security_hub(EnableDefaultStandards=False)
    sh.batch_enable_standards(StandardsSubscriptionRequests=[{"StandardsArn": PCI.format(region=region)}])
    ctx.client("macie2", member, region).enable_macie()

    local_aws.reset()

    # moto keeps no role either way: the member account is still addressable after the reset.
    assert ctx.client("guardduty", member, region).list_detectors()["DetectorIds"] == []
    with pytest.raises(ClientError) as hub:
        sh.get_enabled_standards()
    assert error(hub)[0] == "InvalidAccessException"
    sh.enable_security_hub(EnableDefaultStandards=False)
    assert sh.get_enabled_standards()["StandardsSubscriptions"] == []
    with pytest.raises(ClientError) as macie:
        ctx.client("macie2", member, region).get_macie_session()
    assert error(macie)[0] == "AccessDeniedException"
