"""AWS::IAM::Role and AWS::SNS::Topic/Subscription through CloudFormation."""


ROLE = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: {name}
      Description: {description}
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{{Effect: Allow, Principal: {{AWS: "arn:aws:iam::123456789012:root"}}, Action: "sts:AssumeRole"}}]
      Policies:
        - PolicyName: read
          PolicyDocument:
            Version: "2012-10-17"
            Statement: [{{Effect: Allow, Action: "{action}", Resource: "*"}}]
      Tags: [{{Key: tier, Value: {tier}}}]
"""


def test_role_inline_policy_reads_back_as_json(member):
    member.deploy("iam-role", ROLE.format(name="audit", description="d", action="s3:GetObject", tier="a"))
    iam = member.client("iam")
    document = iam.get_role_policy(RoleName="audit", PolicyName="read")["PolicyDocument"]
    # boto3 decodes a JSON policy document to a dict; a Python repr would stay a str.
    assert isinstance(document, dict), document
    assert document["Statement"][0]["Action"] == "s3:GetObject"


def test_role_updates_in_place(member):
    member.deploy("iam-upd", ROLE.format(name="audit2", description="d", action="s3:GetObject", tier="a"))
    member.deploy("iam-upd", ROLE.format(name="audit2", description="e", action="s3:ListBucket", tier="b"),
                  change_set_type="UPDATE")
    iam = member.client("iam")
    role = iam.get_role(RoleName="audit2")["Role"]
    assert role["Description"] == "e"
    assert role["Tags"] == [{"Key": "tier", "Value": "b"}]
    document = iam.get_role_policy(RoleName="audit2", PolicyName="read")["PolicyDocument"]
    assert document["Statement"][0]["Action"] == "s3:ListBucket"


TOPIC = """
Parameters:
  Email: {Type: String, Default: ""}
Conditions:
  HasEmail: !Not [!Equals [!Ref Email, ""]]
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: alerts
      KmsMasterKeyId: alias/aws/sns
      Tags: [{Key: team, Value: sec}]
  Sub:
    Type: AWS::SNS::Subscription
    Condition: HasEmail
    Properties: {TopicArn: !Ref Topic, Protocol: email, Endpoint: !Ref Email}
Outputs:
  Topic: {Value: !Ref Topic}
"""


def test_topic_tags_and_conditional_subscription(member):
    member.deploy("sns", TOPIC)
    sns = member.client("sns")
    topic = member.outputs("sns")["Topic"]
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "team", "Value": "sec"}]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["KmsMasterKeyId"] == "alias/aws/sns"
    # The condition-false subscription does not exist, and the stack lists only what does.
    assert set(member.physical_ids("sns")) == {"Topic"}

    member.deploy("sns", TOPIC, {"Email": "sec@example.com"}, change_set_type="UPDATE")
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "sec@example.com")]
    assert member.physical_ids("sns")["Sub"] == subs[0]["SubscriptionArn"]

    member.deploy("sns", TOPIC, {"Email": ""}, change_set_type="UPDATE")
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert set(member.physical_ids("sns")) == {"Topic"}
