# fleet:severity error
# Outputs: a template does not output a secret (the value of a NoEcho parameter, a secret read
# through a {{resolve:secretsmanager}} or {{resolve:ssm-secure}} dynamic reference, an access
# key's SecretAccessKey), because stack outputs are readable by anyone with DescribeStacks and
# the pipeline copies them into XCom and the ledger.
package fleet.rules.no_secret_outputs

import rego.v1

noecho contains name if {
	some name, p in input.Parameters
	p.NoEcho in {true, "true", "True", "TRUE"}
}

# values that reveal a secret, wherever they sit inside an Output's Value
reveals(node) := sprintf("the NoEcho parameter %s", [node.Ref]) if {
	is_object(node)
	noecho[node.Ref]
}

reveals(node) := sprintf("the NoEcho parameter %s", [p]) if {
	is_string(node)
	some p in noecho
	contains(node, sprintf("${%s}", [p]))
}

reveals(node) := "a secret dynamic reference" if {
	is_string(node)
	regex.match(`\{\{resolve:(secretsmanager|ssm-secure):`, node)
}

reveals(node) := "an access key's SecretAccessKey" if {
	is_object(node)
	is_array(node["Fn::GetAtt"])
	node["Fn::GetAtt"][1] == "SecretAccessKey"
}

reveals(node) := "an access key's SecretAccessKey" if {
	is_object(node)
	is_string(node["Fn::GetAtt"])
	endswith(node["Fn::GetAtt"], ".SecretAccessKey")
}

deny contains {"resource": name, "message": msg} if {
	some name, output in input.Outputs
	walk(output.Value, [_, node])
	what := reveals(node)
	msg := sprintf("output %s reveals %s: stack outputs are not secret", [name, what])
}
