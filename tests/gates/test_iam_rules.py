"""Every IAM rule object catches its failing example and passes its passing one."""

import pytest

from fleet.gates.iam_rules import RULES, PolicyDocument


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_flags_its_failing_example_only(rule):
    failing = PolicyDocument.parse(rule.failing.document, rule.failing.kind)
    passing = PolicyDocument.parse(rule.passing.document, rule.passing.kind)
    assert list(rule.check(failing)), f"{rule.id} does not flag its failing example"
    assert list(rule.check(passing)) == [], f"{rule.id} flags its passing example"


def test_rule_ids_are_unique_and_in_the_iam_gate():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("iam:") and r.severity in ("error", "warning") and r.description
               for i, r in zip(ids, RULES))


def test_key_policy_star_means_this_key():
    from fleet.gates.iam_rules import WILDCARD_ADMIN

    key_policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"},
                                 "Action": "*", "Resource": "*"}]}
    assert list(WILDCARD_ADMIN.check(PolicyDocument.parse(key_policy, "key"))) == []


def test_unknown_policy_kind_is_refused():
    with pytest.raises(ValueError, match="PolicyDocument.kind: expected one of"):
        PolicyDocument.parse({"Statement": []}, "bucket-policy")
