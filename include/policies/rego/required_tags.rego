# fleet:severity error
# fleet:parameter required_tag_keys
# Required tags: every taggable resource carries the tag keys configured in fleet.yaml
# (policies.parameters.required_tag_keys; the sample fleet requires fleet:managed-by), so cost,
# ownership and drift reports can tell fleet-managed resources from hand-made ones.
package fleet.rules.required_tags

import rego.v1

# Types whose Tags property is a list of {Key, Value}.
list_tagged := {
	"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::IAM::Role", "AWS::SNS::Topic",
	"AWS::DynamoDB::Table", "AWS::EC2::SecurityGroup", "AWS::EC2::VPC", "AWS::EC2::Instance",
	"AWS::Lambda::Function", "AWS::RDS::DBInstance", "AWS::RDS::DBCluster", "AWS::SQS::Queue",
	"AWS::Logs::LogGroup", "AWS::CloudTrail::Trail", "AWS::SecretsManager::Secret",
}

# Types whose Tags property is a plain map.
map_tagged := {"AWS::SSM::Parameter"}

has_tag(r, required) if {
	list_tagged[r.Type]
	some tag in r.Properties.Tags
	tag.Key == required
}

has_tag(r, required) if {
	map_tagged[r.Type]
	r.Properties.Tags[required]
}

deny contains {"resource": name, "message": msg} if {
	some required in data.parameters.required_tag_keys
	some name, r in input.Resources
	r.Type in (list_tagged | map_tagged)
	not has_tag(r, required)
	msg := sprintf("%s (%s) must carry the tag %s", [name, r.Type, required])
}
