"""Fleet scale (localaws.patches.scale): the account a request acts in is found without visiting every
account, with moto's answers unchanged."""

from __future__ import annotations

from localaws.clients import client


def caller_account(endpoint_url: str, credentials: dict | None = None) -> str:
    return client("sts", endpoint_url, credentials=credentials).get_caller_identity()["Account"]


def test_each_assumed_role_key_acts_in_its_own_account(local_aws, member):
    other = type(member)(local_aws.endpoint_url)
    assert caller_account(local_aws.endpoint_url, member.credentials) == member.account_id
    assert caller_account(local_aws.endpoint_url, other.credentials) == other.account_id
    # A key no account holds (the management account's dummy credentials): moto's default account.
    assert caller_account(local_aws.endpoint_url) == "123456789012"


def test_a_deleted_key_no_longer_names_its_account(local_aws, member):
    iam = member.client("iam")
    iam.create_user(UserName="scale-user")
    key = iam.create_access_key(UserName="scale-user")["AccessKey"]
    own = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    assert caller_account(local_aws.endpoint_url, own) == member.account_id
    iam.delete_access_key(UserName="scale-user", AccessKeyId=key["AccessKeyId"])
    assert caller_account(local_aws.endpoint_url, own) == "123456789012"


def test_finding_the_account_visits_no_other_account(local_aws, member):
    # moto 5.2.5 looked for the key in every account's IAM backend of every partition, creating
    # the missing ones as it went: each request cost one visit per account (N^2 for a rollout).
    from moto.iam import models
    from moto.utilities.utils import PARTITION_NAMES

    assert caller_account(local_aws.endpoint_url, member.credentials) == member.account_id
    made = set(dict.keys(dict.get(models.iam_backends, member.account_id)))
    assert made < set(PARTITION_NAMES), f"every partition's IAM backend was made for {member.account_id}"


def test_an_accounts_ec2_holds_no_public_image_catalogue(local_aws, member):
    # moto 5.2.5 loaded its public AMI catalogue into each account's EC2 backend: about 4 MB per
    # account that makes a VPC (8.6 GB of local AWS at 2,000 accounts with the network baseline).
    ec2 = member.client("ec2")
    ec2.create_vpc(CidrBlock="10.9.0.0/24")
    assert ec2.describe_images(Owners=["amazon"])["Images"] == []
