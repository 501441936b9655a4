"""The local CloudFormation drift APIs against the API reference's documented behaviour."""

from __future__ import annotations

import json

import pytest

SUPPORTED = {"BaselineKey", "AccessLogsBucket", "AuditBucket", "AuditBucketPolicy", "AuditRole", "AlertsTopic"}
STACK = "fleet-security-baseline"


@pytest.fixture
def ctx(seeded_fleet):
    """The organization every test of the worker shares: each test's stack is in a fresh account."""
    return seeded_fleet


def _detect(cfn) -> dict:
    detection = cfn.detect_stack_drift(StackName=STACK)["StackDriftDetectionId"]
    return cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)


def _drifts(cfn, *filters) -> dict[str, dict]:
    kw = {"StackResourceDriftStatusFilters": list(filters)} if filters else {}
    return {d["LogicalResourceId"]: d for d in cfn.describe_stack_resource_drifts(StackName=STACK, **kw)[
        "StackResourceDrifts"]}


def _error(call) -> str:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] == "ValidationError"
    return err.value.response["Error"]["Message"]


def test_an_untouched_stack_is_in_sync_and_unsupported_types_are_not_checked(ctx, baseline):
    r = baseline
    cfn = ctx.client("cloudformation", r.account_id)
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["DriftInformation"] == {"StackDriftStatus": "NOT_CHECKED"}

    status = _detect(cfn)
    assert (status["DetectionStatus"], status["StackDriftStatus"], status["DriftedStackResourceCount"]) == (
        "DETECTION_COMPLETE", "IN_SYNC", 0)
    info = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["DriftInformation"]
    assert info["StackDriftStatus"] == "IN_SYNC" and info["LastCheckTimestamp"]

    drifts = _drifts(cfn)
    # Unsupported types are not checked and so not included (AWS::KMS::Alias here); the condition-false
    # AlertsSubscription was never created and is not listed either.
    assert set(drifts) == SUPPORTED
    assert {d["StackResourceDriftStatus"] for d in drifts.values()} == {"IN_SYNC"}
    bucket = drifts["AuditBucket"]
    expected = json.loads(bucket["ExpectedProperties"])
    assert expected == json.loads(bucket["ActualProperties"])
    assert expected["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
        "KMSMasterKeyID"] == r.outputs["KeyArn"]  # GetAtt resolved, as CloudFormation resolves it
    assert "LifecycleConfiguration" not in expected  # a property this local AWS does not compare
    # DescribeStackResources shows each resource's drift information, NOT_CHECKED for unsupported types.
    resources = {x["LogicalResourceId"]: x["DriftInformation"]["StackResourceDriftStatus"]
                 for x in cfn.describe_stack_resources(StackName=STACK)["StackResources"]}
    assert resources == {**{n: "IN_SYNC" for n in SUPPORTED}, "BaselineKeyAlias": "NOT_CHECKED"}
    summaries = {x["LogicalResourceId"]: x["DriftInformation"]["StackResourceDriftStatus"]
                 for x in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]}
    assert summaries == resources


def test_bucket_encryption_changed_behind_the_pipelines_back_is_drift(ctx, baseline):
    r = baseline
    cfn = ctx.client("cloudformation", r.account_id)
    ctx.client("s3", r.account_id).put_bucket_encryption(
        Bucket=r.outputs["AuditBucketName"], ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})

    status = _detect(cfn)
    assert (status["StackDriftStatus"], status["DriftedStackResourceCount"]) == ("DRIFTED", 1)
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["DriftInformation"]["StackDriftStatus"] == "DRIFTED"
    modified = _drifts(cfn, "MODIFIED")
    assert list(modified) == ["AuditBucket"]
    prefix = "/BucketEncryption/ServerSideEncryptionConfiguration/0"
    assert modified["AuditBucket"]["PropertyDifferences"] == [
        {"PropertyPath": f"{prefix}/ServerSideEncryptionByDefault/SSEAlgorithm", "ExpectedValue": "aws:kms",
         "ActualValue": "AES256", "DifferenceType": "NOT_EQUAL"},
        {"PropertyPath": f"{prefix}/ServerSideEncryptionByDefault/KMSMasterKeyID",
         "ExpectedValue": r.outputs["KeyArn"], "ActualValue": "null", "DifferenceType": "REMOVE"},
        {"PropertyPath": f"{prefix}/BucketKeyEnabled", "ExpectedValue": "true", "ActualValue": "null",
         "DifferenceType": "REMOVE"}]
    actual = json.loads(modified["AuditBucket"]["ActualProperties"])
    assert actual["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"}
    assert set(_drifts(cfn, "IN_SYNC")) == SUPPORTED - {"AuditBucket"}
    # The single-resource call agrees, and moves that resource's drift information on.
    one = cfn.detect_stack_resource_drift(StackName=STACK, LogicalResourceId="AuditBucket")["StackResourceDrift"]
    assert one["StackResourceDriftStatus"] == "MODIFIED" and len(one["PropertyDifferences"]) == 3


def test_each_compared_property_kind_reports_its_difference(ctx, baseline):
    r = baseline
    a, bucket = r.account_id, r.outputs["AuditBucketName"]
    s3, iam, kms = ctx.client("s3", a), ctx.client("iam", a), ctx.client("kms", a)
    kms.disable_key_rotation(KeyId=r.outputs["KeyArn"])
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={})  # logging switched off
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [  # one tag changed, one removed, one added
        {"Key": "fleet:managed-by", "Value": "someone-else"}, {"Key": "owner", "Value": "bob"}]})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    iam.update_assume_role_policy(RoleName="fleet-audit", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                "Action": "sts:AssumeRole"}]}))
    iam.update_role(RoleName="fleet-audit", Description="changed by hand")
    ctx.client("sns", a).set_topic_attributes(TopicArn=r.outputs["AlertsTopicArn"], AttributeName="KmsMasterKeyId",
                                              AttributeValue="alias/aws/sns")

    cfn = ctx.client("cloudformation", a)
    assert _detect(cfn)["DriftedStackResourceCount"] == 5
    diffs = {name: {(p["PropertyPath"], p["DifferenceType"], p["ActualValue"]) for p in d["PropertyDifferences"]}
             for name, d in _drifts(cfn, "MODIFIED").items()}
    assert diffs["BaselineKey"] == {("/EnableKeyRotation", "NOT_EQUAL", "false")}
    assert diffs["AuditBucket"] == {
        ("/LoggingConfiguration", "REMOVE", "null"),
        ("/Tags/0", "REMOVE", "null"),  # tags are matched by key (sorted), not by position
        ("/Tags/1/Value", "NOT_EQUAL", "someone-else"),
        ("/Tags/2", "ADD", json.dumps({"Key": "owner", "Value": "bob"}, sort_keys=True))}
    assert diffs["AuditBucketPolicy"] == {("/PolicyDocument/Statement/0", "REMOVE", "null")}
    assert diffs["AuditRole"] == {
        ("/AssumeRolePolicyDocument/Statement/0/Principal/AWS/0", "NOT_EQUAL", "*"),
        ("/Description", "NOT_EQUAL", "changed by hand")}
    assert diffs["AlertsTopic"] == {("/KmsMasterKeyId", "NOT_EQUAL", "alias/aws/sns")}


def test_only_what_the_template_sets_is_compared_and_equal_policies_are_equal(ctx, baseline):
    r = baseline
    iam = ctx.client("iam", r.account_id)
    # Properties the template leaves out are not compared: changing them is not drift.
    # (moto's UpdateRole clears a Description it is not given, unlike IAM: pass it unchanged.)
    iam.update_role(RoleName="fleet-audit", MaxSessionDuration=7200,
                    Description=iam.get_role(RoleName="fleet-audit")["Role"]["Description"])
    ctx.client("s3", r.account_id).put_bucket_accelerate_configuration(
        Bucket=r.outputs["AuditBucketName"], AccelerateConfiguration={"Status": "Enabled"})
    # The same inline policy written differently (a one-element list as a string, list values in
    # another order) means the same: no drift.
    original = iam.get_role_policy(RoleName="fleet-audit", PolicyName="audit-read")["PolicyDocument"]
    original = json.loads(original) if isinstance(original, str) else original
    for s in original["Statement"]:
        s["Action"] = list(reversed(s["Action"]))
        if s["Resource"] == ["*"] or s["Resource"] == "*":
            s["Resource"] = "*"
    iam.put_role_policy(RoleName="fleet-audit", PolicyName="audit-read", PolicyDocument=json.dumps(original))

    cfn = ctx.client("cloudformation", r.account_id)
    assert _detect(cfn)["StackDriftStatus"] == "IN_SYNC", [d["PropertyDifferences"] for d in _drifts(cfn, "MODIFIED").values()]


def test_deleted_resources_are_deleted_without_properties(ctx, baseline):
    r = baseline
    ctx.client("sns", r.account_id).delete_topic(TopicArn=r.outputs["AlertsTopicArn"])
    ctx.client("s3", r.account_id).delete_bucket_policy(Bucket=r.outputs["AuditBucketName"])
    ctx.client("kms", r.account_id).schedule_key_deletion(KeyId=r.outputs["KeyArn"].rsplit("/", 1)[-1], PendingWindowInDays=7)

    cfn = ctx.client("cloudformation", r.account_id)
    status = _detect(cfn)
    assert (status["StackDriftStatus"], status["DriftedStackResourceCount"]) == ("DRIFTED", 3)
    deleted = _drifts(cfn, "DELETED")
    assert set(deleted) == {"AlertsTopic", "AuditBucketPolicy", "BaselineKey"}
    for d in deleted.values():  # the API reference: no Expected/ActualProperties for DELETED
        assert "ExpectedProperties" not in d and "ActualProperties" not in d and not d.get("PropertyDifferences")
    assert set(_drifts(cfn, "DELETED", "MODIFIED")) == set(deleted)


def test_validation_errors_for_unknown_stacks_resources_detections_and_other_accounts(ctx, baseline):
    r = baseline
    member = ctx.client("cloudformation", r.account_id)
    management = ctx.client("cloudformation")
    assert "does not exist" in _error(lambda: management.detect_stack_drift(StackName="nope"))
    assert "does not exist" in _error(lambda: management.describe_stack_resource_drifts(StackName="nope"))
    assert "does not exist" in _error(lambda: management.describe_stack_drift_detection_status(
        StackDriftDetectionId="no-such-id"))
    # A detection id belongs to its account and region.
    detection = member.detect_stack_drift(StackName=STACK)["StackDriftDetectionId"]
    _error(lambda: management.describe_stack_drift_detection_status(StackDriftDetectionId=detection))
    _error(lambda: ctx.client("cloudformation", r.account_id, "eu-west-1").describe_stack_drift_detection_status(
        StackDriftDetectionId=detection))
    # The stack exists in the member account only; its name means nothing in the management account.
    _error(lambda: management.detect_stack_drift(StackName=STACK))
    assert "does not exist" in _error(lambda: member.detect_stack_resource_drift(StackName=STACK,
                                                                               LogicalResourceId="Nope"))
    assert "not supported" in _error(lambda: member.detect_stack_resource_drift(
        StackName=STACK, LogicalResourceId="BaselineKeyAlias"))
    _error(lambda: member.detect_stack_drift(StackName=STACK, LogicalResourceIds=["Nope"]))
    _error(lambda: member.describe_stack_resource_drifts(StackName=STACK, StackResourceDriftStatusFilters=["BAD"]))


def test_polling_pagination_and_a_subset_of_resources(ctx, baseline, monkeypatch):
    from localaws.drift import DriftExtension

    r = baseline
    cfn = ctx.client("cloudformation", r.account_id)
    monkeypatch.setattr(DriftExtension, "polls_in_progress", 2)
    detection = cfn.detect_stack_drift(StackName=STACK, LogicalResourceIds=["AuditBucket", "AuditRole"])[
        "StackDriftDetectionId"]
    seen = [cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection) for _ in range(3)]
    assert [s["DetectionStatus"] for s in seen] == ["DETECTION_IN_PROGRESS"] * 2 + ["DETECTION_COMPLETE"]
    assert "StackDriftStatus" not in seen[0] and seen[2]["StackDriftStatus"] == "IN_SYNC"
    assert set(_drifts(cfn)) == {"AuditBucket", "AuditRole"}  # only the resources asked for were checked

    monkeypatch.setattr(DriftExtension, "polls_in_progress", 0)
    _detect(cfn)
    first = cfn.describe_stack_resource_drifts(StackName=STACK, MaxResults=4)
    second = cfn.describe_stack_resource_drifts(StackName=STACK, MaxResults=4, NextToken=first["NextToken"])
    assert len(first["StackResourceDrifts"]) == 4 and "NextToken" not in second
    assert {d["LogicalResourceId"] for d in first["StackResourceDrifts"] + second["StackResourceDrifts"]} == SUPPORTED


def test_differences_follow_the_api_reference_shapes():
    from localaws.drift import differences, policy

    assert differences({"A": {"B": [1, 2]}}, {"A": {"B": [1, 3, 4]}}) == [
        {"PropertyPath": "/A/B/1", "ExpectedValue": "2", "ActualValue": "3", "DifferenceType": "NOT_EQUAL"},
        {"PropertyPath": "/A/B/2", "ExpectedValue": "null", "ActualValue": "4", "DifferenceType": "ADD"}]
    assert differences({"A": True, "N": 5}, {"A": "true", "N": "5", "Extra": 1}) == []  # JSON text, defaults ignored
    assert differences({"A": 1}, {}) == [
        {"PropertyPath": "/A", "ExpectedValue": "1", "ActualValue": "null", "DifferenceType": "REMOVE"}]
    assert policy('{"Statement": {"Action": "s3:*", "Resource": ["b", "a"]}}') == policy(
        {"Statement": [{"Action": ["s3:*"], "Resource": ["a", "b"]}]})
