# fleet:severity error
# Deletion policies: resources that hold data or keys survive a stack delete or replacement.
# Without a DeletionPolicy, CloudFormation deletes the resource (Snapshot for RDS DB clusters
# and for DB instances outside a cluster, as AWS documents); without an UpdateReplacePolicy,
# a replacement deletes the old resource. One bad change set could destroy an audit trail.
package fleet.rules.deletion_policy_retain

import rego.v1

stateful := {
	"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::RDS::DBInstance",
	"AWS::RDS::DBCluster", "AWS::Logs::LogGroup", "AWS::EFS::FileSystem",
}

keeps := {"Retain", "RetainExceptOnCreate", "Snapshot"}

# AWS's documented default when DeletionPolicy is not set
default_deletion(r) := "Snapshot" if {
	r.Type == "AWS::RDS::DBCluster"
} else := "Snapshot" if {
	r.Type == "AWS::RDS::DBInstance"
	not r.Properties.DBClusterIdentifier
} else := "Delete"

deletion(r) := r.DeletionPolicy if {
	is_string(r.DeletionPolicy)
} else := default_deletion(r)

how(r) := "is" if {
	is_string(r.DeletionPolicy)
} else := "is not set: CloudFormation's default for this type is"

deny contains {"resource": name, "message": msg} if {
	some name, r in input.Resources
	stateful[r.Type]
	policy := deletion(r)
	not keeps[policy]
	msg := sprintf("%s (%s): DeletionPolicy %s %s, which destroys it on stack delete; set Retain (or Snapshot)", [name, r.Type, how(r), policy])
}

deny contains {"resource": name, "message": msg} if {
	some name, r in input.Resources
	stateful[r.Type]
	not keeps[r.UpdateReplacePolicy]
	msg := sprintf("%s (%s): UpdateReplacePolicy is not Retain or Snapshot (CloudFormation's default is Delete), so a replacement destroys it; set Retain (or Snapshot)", [name, r.Type])
}
