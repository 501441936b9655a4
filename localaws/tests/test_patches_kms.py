"""AWS::KMS::Key through CloudFormation (localaws.patches.kms)."""

import json

KEY = """
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      Description: {description}
      EnableKeyRotation: {rotation}
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - {{Sid: Admin, Effect: Allow, Principal: {{AWS: "*"}}, Action: "kms:*", Resource: "*"}}
      Tags:
        - {{Key: team, Value: {team}}}
Outputs:
  KeyId: {{Value: !Ref Key}}
"""


def _key(description="one", rotation="true", team="platform"):
    return KEY.format(description=description, rotation=rotation, team=team)


def test_key_tags_and_policy_from_template(member):
    member.deploy("kms-key", _key())
    kms = member.client("kms")
    key_id = member.outputs("kms-key")["KeyId"]

    tags = kms.list_resource_tags(KeyId=key_id)["Tags"]
    assert tags == [{"TagKey": "team", "TagValue": "platform"}]
    policy = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    assert json.loads(policy)["Statement"][0]["Sid"] == "Admin"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "one"
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_key_updates_in_place(member):
    member.deploy("kms-upd", _key())
    key_id = member.outputs("kms-upd")["KeyId"]

    member.deploy("kms-upd", _key(description="two", rotation="false", team="security"), change_set_type="UPDATE")

    kms = member.client("kms")
    assert member.outputs("kms-upd")["KeyId"] == key_id
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "two"
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "security"}]
