# fleet:severity warning
# Logging: S3 buckets write server access logs, except the buckets that receive those logs
# (a log bucket logging to itself loops). A log bucket is one another bucket in the same
# template names as DestinationBucketName, or one tagged fleet:role=access-logs.
package fleet.rules.s3_access_logging

import rego.v1

log_targets contains target if {
	some r in input.Resources
	r.Type == "AWS::S3::Bucket"
	target := r.Properties.LoggingConfiguration.DestinationBucketName.Ref
}

is_log_bucket(name, r) if log_targets[name]

is_log_bucket(_, r) if {
	some tag in r.Properties.Tags
	tag.Key == "fleet:role"
	tag.Value == "access-logs"
}

deny contains {"resource": name, "message": msg} if {
	some name, r in input.Resources
	r.Type == "AWS::S3::Bucket"
	not r.Properties.LoggingConfiguration.DestinationBucketName
	not is_log_bucket(name, r)
	msg := sprintf("%s: S3 bucket should set LoggingConfiguration (server access logs)", [name])
}
