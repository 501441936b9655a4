# fleet:severity error
# Deletion policies: resources that hold data or keys survive a stack delete or replacement.
# CloudFormation's default is Delete, so one bad change set could destroy an audit trail.
package fleet.rules.deletion_policy_retain

import rego.v1

stateful := {
	"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::RDS::DBInstance",
	"AWS::RDS::DBCluster", "AWS::Logs::LogGroup", "AWS::EFS::FileSystem",
}

keeps := {"Retain", "RetainExceptOnCreate", "Snapshot"}

deny contains {"resource": name, "message": msg} if {
	some name, r in input.Resources
	stateful[r.Type]
	not keeps[r.DeletionPolicy]
	msg := sprintf("%s (%s) must set DeletionPolicy: Retain (or Snapshot)", [name, r.Type])
}

deny contains {"resource": name, "message": msg} if {
	some name, r in input.Resources
	stateful[r.Type]
	not keeps[r.UpdateReplacePolicy]
	msg := sprintf("%s (%s) must set UpdateReplacePolicy: Retain (or Snapshot)", [name, r.Type])
}
