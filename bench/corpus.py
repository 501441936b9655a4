"""A varied, real-world-shaped CloudFormation corpus for the gates benchmark, made by a script.

Eleven shapes, rotated and sized by a seeded generator: small buckets, VPC web tiers with many
security groups (CIDRs literal and from parameters), IAM-heavy stacks in JSON, Fn::ForEach loops
(AWS::LanguageExtensions), SAM applications, nested-stack parents, Rain modules (a Type that is a
mapping), CDK-synth JSON with asset hashes, RDS with read replicas, PyPlate macro templates and
large mixed stacks. Sizes run from a few resources to a few hundred.

    python bench/corpus.py OUT_DIR [--templates 320]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

SHAPES = ("bucket", "vpc", "iam_json", "for_each", "sam", "nested", "rain", "cdk_json", "rds",
          "macro", "large")

TAGS = "Tags: [{Key: fleet:managed-by, Value: fleet-pipeline}, {Key: team, Value: %s}]"


def _bucket(name: str, team: str, logging: str | None = None) -> str:
    log = (f"\n      LoggingConfiguration: {{DestinationBucketName: !Ref {logging}}}"
           if logging else "")
    return f"""  {name}:
    Type: AWS::S3::Bucket
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {{SSEAlgorithm: aws:kms}}
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true{log}
      {TAGS % team}
"""


def bucket(i: int, rng: random.Random) -> tuple[str, str]:
    body = "".join(_bucket(f"Data{n}", f"t{i % 7}", "Logs" if n else None)
                   for n in range(rng.randint(1, 4)))
    logs = _bucket("Logs", f"t{i % 7}")
    return "yaml", (f'AWSTemplateFormatVersion: "2010-09-09"\nDescription: buckets {i}\n'
                    f"Resources:\n{logs}{body}")


def vpc(i: int, rng: random.Random) -> tuple[str, str]:
    groups = []
    for g in range(rng.randint(3, 25)):
        entries = []
        for e in range(rng.randint(1, 6)):
            port = rng.choice([80, 443, 22, 5432, 8080, 3389])
            cidr = rng.choice(["0.0.0.0/0", "10.0.0.0/8", "!Ref AdminCidr", "!Ref PeerCidr",
                               "172.16.0.0/12"])
            if cidr == "0.0.0.0/0" and port not in (80, 443):
                port = 443  # the corpus is mostly clean; the findings below are deliberate
            entries.append(f"        - {{IpProtocol: tcp, FromPort: {port}, ToPort: {port}, "
                           f"CidrIp: {cidr}}}")
        groups.append(f"""  Sg{g}:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: tier {g} of stack {i}
      VpcId: !Ref Vpc
      SecurityGroupIngress:
{chr(10).join(entries)}
      {TAGS % 'net'}
""")
    if i % 5 == 0:  # a real finding now and then
        groups.append("""  Bastion:
    Type: AWS::EC2::SecurityGroupIngress
    Properties:
      GroupId: !Ref Sg0
      IpProtocol: tcp
      FromPort: 22
      ToPort: 22
      CidrIp: 0.0.0.0/0
""")
    return "yaml", f"""AWSTemplateFormatVersion: "2010-09-09"
Description: web tier {i}
Parameters:
  AdminCidr:
    Type: String
    Default: 10.0.0.0/8
    AllowedPattern: ^10\\.[0-9.]+/[0-9]+$
  PeerCidr:
    Type: String
    Default: 192.168.0.0/16
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.{i % 250}.0.0/16
      {TAGS % 'net'}
{''.join(groups)}"""


def iam_json(i: int, rng: random.Random) -> tuple[str, str]:
    resources = {}
    for r in range(rng.randint(2, 20)):
        actions = rng.sample(["s3:GetObject", "s3:PutObject", "dynamodb:Query", "sqs:SendMessage",
                              "logs:PutLogEvents", "kms:Decrypt", "secretsmanager:GetSecretValue",
                              "ssm:GetParameter", "sns:Publish", "ec2:DescribeInstances"],
                             rng.randint(1, 5))
        resources[f"Role{r}"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                     "Action": "sts:AssumeRole"}]},
                "Policies": [{"PolicyName": f"p{r}", "PolicyDocument": {
                    "Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Action": actions, "Resource": {
                            "Fn::Sub": f"arn:${{AWS::Partition}}:s3:::bucket-{i}-{r}/*"}}]}}],
                "Tags": [{"Key": "fleet:managed-by", "Value": "fleet-pipeline"}],
            },
        }
    if i % 7 == 0:
        resources["Admin"] = {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}]}}}
    return "json", json.dumps({"AWSTemplateFormatVersion": "2010-09-09",
                               "Description": f"iam {i}", "Resources": resources}, indent=1)


def for_each(i: int, rng: random.Random) -> tuple[str, str]:
    names = ", ".join(f"D{n}" for n in range(rng.randint(2, 12)))
    return "yaml", f"""AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::LanguageExtensions
Description: per-domain topics and queues {i}
Resources:
  Fn::ForEach::Domains:
    - Domain
    - [{names}]
    - ${{Domain}}Topic:
        Type: AWS::SNS::Topic
        Properties:
          KmsMasterKeyId: alias/aws/sns
          {TAGS % 'data'}
      ${{Domain}}Queue:
        Type: AWS::SQS::Queue
        Properties:
          SqsManagedSseEnabled: true
          {TAGS % 'data'}
"""


def sam(i: int, rng: random.Random) -> tuple[str, str]:
    fns = "".join(f"""  Fn{n}:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler{n}
      CodeUri: s3://artifacts-{i}/app.zip
      Policies:
        - DynamoDBReadPolicy: {{TableName: table-{n}}}
""" for n in range(rng.randint(1, 6)))
    return "yaml", f"""AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: sam app {i}
Globals:
  Function:
    Runtime: python3.13
    Timeout: 10
Resources:
{fns}"""


def nested(i: int, rng: random.Random) -> tuple[str, str]:
    stacks = "".join(f"""  Child{n}:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: !Sub https://templates-${{AWS::AccountId}}.s3.amazonaws.com/child-{n}.yaml
      Parameters: {{Env: prod, Index: "{n}"}}
      {TAGS % 'platform'}
""" for n in range(rng.randint(1, 8)))
    return "yaml", f'AWSTemplateFormatVersion: "2010-09-09"\nDescription: parent {i}\nResources:\n{stacks}'


def rain(i: int, rng: random.Random) -> tuple[str, str]:
    return "yaml", f"""Description: rain modules {i}
Resources:
  Site:
    Type: {{Rain::Module: ./modules/site.yaml}}
    Properties: {{Name: site-{i}}}
  Module{i}:
    Type: Org::Storage::Bucket::MODULE
    Properties: {{Name: data-{i}}}
  Alarm:
    Type: AWS::SNS::Topic
    Properties:
      KmsMasterKeyId: alias/aws/sns
      {TAGS % 'ops'}
"""


def cdk_json(i: int, rng: random.Random) -> tuple[str, str]:
    digest = hashlib.sha256(f"asset{i}".encode()).hexdigest()
    return "json", json.dumps({
        "Parameters": {
            f"AssetParameters{digest}S3Bucket": {"Type": "String"},
            f"AssetParameters{digest}S3VersionKey": {"Type": "String"},
            f"AssetParameters{digest}ArtifactHash": {"Type": "String"},
        },
        "Resources": {
            "HandlerRole": {"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                     "Action": "sts:AssumeRole"}]},
                "Tags": [{"Key": "fleet:managed-by", "Value": "cdk"}]}},
            "Handler": {"Type": "AWS::Lambda::Function", "Properties": {
                "Runtime": "python3.13", "Handler": "index.handler",
                "Role": {"Fn::GetAtt": ["HandlerRole", "Arn"]},
                "Code": {"S3Bucket": {"Ref": f"AssetParameters{digest}S3Bucket"},
                         "S3Key": {"Fn::Join": ["", [{"Ref": f"AssetParameters{digest}S3VersionKey"}]]}},
                "Tags": [{"Key": "fleet:managed-by", "Value": "cdk"}]}},
        },
    }, indent=1)


def rds(i: int, rng: random.Random) -> tuple[str, str]:
    replicas = "".join(f"""  Replica{n}:
    Type: AWS::RDS::DBInstance
    UpdateReplacePolicy: Snapshot
    Properties:
      SourceDBInstanceIdentifier: !Ref Primary
      DBInstanceClass: db.t4g.medium
      {TAGS % 'db'}
""" for n in range(rng.randint(0, 3)))
    return "yaml", f"""AWSTemplateFormatVersion: "2010-09-09"
Description: database {i}
Resources:
  Primary:
    Type: AWS::RDS::DBInstance
    UpdateReplacePolicy: Snapshot
    Properties:
      Engine: postgres
      DBInstanceClass: db.t4g.medium
      AllocatedStorage: "50"
      StorageEncrypted: true
      MasterUsername: app_admin
      ManageMasterUserPassword: true
      {TAGS % 'db'}
{replicas}"""


def macro(i: int, rng: random.Random) -> tuple[str, str]:
    return "yaml", f"""Transform: [PyPlate]
Description: generated by a macro {i}
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: |
        #!PyPlate
        output = "topic-{i}"
"""


def large(i: int, rng: random.Random) -> tuple[str, str]:
    parts = [bucket(i, rng)[1].split("Resources:\n", 1)[1]]
    parts += [vpc(i + 1, rng)[1].split("Resources:\n", 1)[1].replace("Sg", f"L{n}Sg")
              .replace("  Vpc:", f"  L{n}Vpc:").replace("!Ref Vpc", f"!Ref L{n}Vpc")
              .replace("Bastion", f"L{n}Bastion")
              for n in range(rng.randint(2, 5))]
    return "yaml", f"""AWSTemplateFormatVersion: "2010-09-09"
Description: a large mixed stack {i}
Parameters:
  AdminCidr:
    Type: String
    Default: 10.0.0.0/8
    AllowedPattern: ^10\\.[0-9.]+/[0-9]+$
  PeerCidr:
    Type: String
    Default: 192.168.0.0/16
Resources:
{''.join(parts)}"""


def templates(count: int, seed: int = 13) -> dict[str, str]:
    """relative path -> text for `count` templates, every shape represented."""
    rng = random.Random(seed)
    makers = {name: globals()[name] for name in SHAPES}
    out = {}
    for i in range(count):
        shape = SHAPES[i % len(SHAPES)]
        ext, text = makers[shape](i, rng)
        out[f"templates/corpus/{shape}-{i:03d}.{ext}"] = text
    return out


def revise(path: str, text: str, n: int) -> str:
    """A new version of a template for commit n: a changed description, as edits do."""
    if path.endswith(".json"):
        data = json.loads(text)
        data["Description"] = f"{data.get('Description', '')} r{n}"
        return json.dumps(data, indent=1)
    return text.replace("Description: ", f"Description: r{n} ", 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--templates", type=int, default=320)
    args = parser.parse_args(argv)
    for rel, text in templates(args.templates).items():
        path = args.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"{args.templates} templates under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
