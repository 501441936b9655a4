"""Change sets: outputs, parameters and change lists (localaws.patches.cloudformation)."""

TEMPLATE = """
Parameters:
  Value: {Type: String}
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties: {Type: String, Value: !Ref Value}
Outputs:
  Name: {Value: !Ref Param, Export: {Name: !Sub "${AWS::StackName}-name"}}
  Echo: {Value: !Ref Value}
"""


def test_create_change_set_stack_has_outputs_and_exports(member):
    member.deploy("cs-create", TEMPLATE, {"Value": "one"})
    stack = member.stack("cs-create")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["Echo"] == "one"
    assert outputs["Name"] == member.physical_ids("cs-create")["Param"]
    exports = member.client("cloudformation").list_exports()["Exports"]
    assert {"cs-create-name"} <= {e["Name"] for e in exports}


def test_update_change_set_lists_changes_and_updates_outputs(member):
    member.deploy("cs-update", TEMPLATE, {"Value": "one"})

    described = member.deploy("cs-update", TEMPLATE, {"Value": "two"}, change_set_type="UPDATE")

    assert described["Status"] == "CREATE_COMPLETE"
    assert [(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"])
            for c in described["Changes"]] == [("Modify", "Param")]
    stack = member.stack("cs-update")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Echo"] == "two"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {"Value": "two"}
    name = member.physical_ids("cs-update")["Param"]
    assert member.client("ssm").get_parameter(Name=name)["Parameter"]["Value"] == "two"


def test_update_change_set_without_changes_fails_as_in_aws(member):
    member.deploy("cs-nochange", TEMPLATE, {"Value": "one"})
    member.deploy("cs-nochange", TEMPLATE, {"Value": "two"}, change_set_type="UPDATE")

    # Same template and the values the stack now has: nothing to do.
    described = member.deploy("cs-nochange", TEMPLATE, {"Value": "two"}, change_set_type="UPDATE")

    assert described["Status"] == "FAILED"
    assert described["StatusReason"].startswith("The submitted information didn't contain changes")
    assert described["ExecutionStatus"] == "UNAVAILABLE"
