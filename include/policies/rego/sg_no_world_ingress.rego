# fleet:severity error
# Security groups open to the world: ingress from 0.0.0.0/0 or ::/0 is allowed only for web
# ports 80 and 443; anything else (SSH, RDP, databases, all traffic) is refused. One finding per
# offending ingress entry. A CIDR from a parameter is judged by its AllowedValues,
# AllowedPattern and Default: an error when it can be the world by default or by an allowed
# value, a warning when only the deployer's value will tell.
package fleet.rules.sg_no_world_ingress

import rego.v1

world := {"0.0.0.0/0", "::/0"}

web_ports := {80, 443}

# (resource name, where, entry, path) for every ingress entry, inline or a resource of its own
entries contains [name, sprintf("SecurityGroupIngress[%d]", [i]), entry, path] if {
	some name, r in input.Resources
	r.Type == "AWS::EC2::SecurityGroup"
	is_array(r.Properties.SecurityGroupIngress)
	some i, entry in r.Properties.SecurityGroupIngress
	is_object(entry)
	path := ["Resources", name, "Properties", "SecurityGroupIngress", i]
}

entries contains [name, "ingress", r.Properties, ["Resources", name]] if {
	some name, r in input.Resources
	r.Type == "AWS::EC2::SecurityGroupIngress"
	is_object(r.Properties)
}

cidr(entry) := entry.CidrIp if entry.CidrIp
else := entry.CidrIpv6 if entry.CidrIpv6

# the entry opens more than the web ports (all traffic, a range, or another port)
all_traffic(entry) if entry.IpProtocol in {"-1", -1}

non_web(entry) if all_traffic(entry)

non_web(entry) if {
	not all_traffic(entry)
	not web_port(entry)
}

web_port(entry) if {
	from := to_number(entry.FromPort)
	from == to_number(entry.ToPort)
	web_ports[from]
}

param(value) := input.Parameters[value.Ref] if {
	is_object(value)
	is_string(value.Ref)
}

# a parameter that can be the world: an allowed value, or its default
can_be_world(p) if {
	some v in p.AllowedValues
	world[v]
}

can_be_world(p) if {
	not p.AllowedValues
	world[p.Default]
}

# known not to be the world: its allowed values, or a pattern that refuses it
known_private(p) if {
	is_array(p.AllowedValues)
	not can_be_world(p)
}

known_private(p) if {
	not p.AllowedValues
	is_string(p.AllowedPattern)
	regex.is_valid(sprintf("^(?:%s)$", [p.AllowedPattern]))
	not pattern_admits_world(p.AllowedPattern)
}

pattern_admits_world(pattern) if {
	some w in world
	regex.match(sprintf("^(?:%s)$", [pattern]), w)
}

ports(entry) := "all traffic" if {
	all_traffic(entry)
} else := sprintf("ports %v-%v", [entry.FromPort, entry.ToPort])

deny contains {"resource": name, "path": path, "message": msg} if {
	some [name, where, entry, path] in entries
	world[cidr(entry)]
	non_web(entry)
	msg := sprintf("%s %s: ingress from %s on %s; only ports 80 and 443 may be open to the world", [name, where, cidr(entry), ports(entry)])
}

deny contains {"resource": name, "path": path, "message": msg} if {
	some [name, where, entry, path] in entries
	p := param(cidr(entry))
	can_be_world(p)
	non_web(entry)
	msg := sprintf("%s %s: ingress CIDR from parameter %s, which can be %s, on %s; only ports 80 and 443 may be open to the world", [name, where, cidr(entry).Ref, world_value(p), ports(entry)])
}

deny contains {"resource": name, "path": path, "message": msg, "severity": "warning"} if {
	some [name, where, entry, path] in entries
	p := param(cidr(entry))
	not can_be_world(p)
	not known_private(p)
	non_web(entry)
	msg := sprintf("%s %s: ingress CIDR from parameter %s on %s cannot be judged here (no AllowedValues, and no AllowedPattern that refuses 0.0.0.0/0 and ::/0); make sure the deployed value is not the world", [name, where, cidr(entry).Ref, ports(entry)])
}

world_value(p) := p.Default if world[p.Default]
else := "0.0.0.0/0 or ::/0"
