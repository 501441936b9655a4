# fleet:severity error
# IAM wildcards: no identity policy allows every action on every resource (administrator access
# by another name). Key policies are the iam gate's business: there Resource "*" means "this key".
package fleet.rules.iam_no_wildcard_admin

import rego.v1

as_list(x) := x if is_array(x)

as_list(x) := [x] if not is_array(x)

inline_documents contains [name, doc] if {
	some name, r in input.Resources
	r.Type in {"AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"}
	some p in r.Properties.Policies
	doc := p.PolicyDocument
}

inline_documents contains [name, doc] if {
	some name, r in input.Resources
	r.Type in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}
	doc := r.Properties.PolicyDocument
}

deny contains {"resource": name, "message": msg} if {
	some [name, doc] in inline_documents
	some statement in as_list(doc.Statement)
	statement.Effect == "Allow"
	"*" in as_list(statement.Action)
	"*" in as_list(statement.Resource)
	msg := sprintf("%s: a policy statement allows Action \"*\" on Resource \"*\"", [name])
}

# NotAction with Allow on "*" grants everything except a short list: just as broad.
deny contains {"resource": name, "message": msg} if {
	some [name, doc] in inline_documents
	some statement in as_list(doc.Statement)
	statement.Effect == "Allow"
	statement.NotAction
	"*" in as_list(statement.Resource)
	msg := sprintf("%s: a policy statement allows NotAction on Resource \"*\"", [name])
}
