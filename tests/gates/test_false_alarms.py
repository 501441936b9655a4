"""Issue 13 item 4: the false-alarm set (tests/gates/false_alarms/) stays at zero error findings.

The templates are shaped like public ones (VPC web tiers, RDS with a replica, CDK asset
parameters, Fn::ForEach, SAM, nested stacks, ECS secrets) and hold the idioms that used to raise
false alarms: parameter CIDRs with private defaults, read replicas, dynamic references, IAM action
names, boolean flags, ARNs and asset hashes. Every one of them is correct, so any error finding is
a false alarm.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from fleet.gates import run_gates
from fleet.gates.command import check_command
from fleet.gates.secret_filters import is_cloudformation_idiom

from .conftest import AWS_KEY, DB_VALUE, commit_all, init_repo

SET = Path(__file__).parent / "false_alarms"
# a 64-hex value, computed so this file holds no secret-looking literal itself
HEX = hashlib.sha256(b"test").hexdigest()
TEMPLATES = sorted(p.name for p in (SET / "templates").iterdir())


def test_the_false_alarm_set_has_no_error_finding(tmp_path, capsys):
    root = tmp_path / "set"
    shutil.copytree(SET, root)
    assert check_command(str(root), fmt="json", history=False) == 0
    data = json.loads(capsys.readouterr().out)
    errors = [f for f in data["findings"] if f["severity"] == "error"]
    assert errors == []
    checked = data["summary"]["checked"]
    assert len(TEMPLATES) >= 8 and checked["templates"] == len(TEMPLATES)


def test_the_false_alarm_set_in_history_has_no_error_finding(tmp_path, cache):
    repo = init_repo(tmp_path / "r")
    shutil.copytree(SET / "templates", repo / "templates")
    commit_all(repo, "set")
    shutil.rmtree(repo / "templates")
    (repo / "README.md").write_text("moved\n")
    commit_all(repo, "removed")
    found = run_gates(repo, gates={"secrets"}, cache_dir=cache).findings
    assert [f for f in found if f.severity == "error"] == []


def test_the_idiom_filter_keeps_real_secrets():
    for secret, line in [
        (AWS_KEY, f'      Default: "{AWS_KEY}"'),
        (DB_VALUE, f"      MasterUserPassword: {DB_VALUE}"),
        (DB_VALUE, f'password = "{DB_VALUE}"  # secretsmanager:GetSecretValue'),
        (HEX, f'hmac_key = "{HEX}"'),
    ]:
        assert not is_cloudformation_idiom(secret, line, None), line


def test_real_secrets_beside_the_idioms_are_still_found(tmp_path, cache):
    root = tmp_path / "set"
    shutil.copytree(SET, root)
    leak = root / "templates" / "lambda-reads-secret.yaml"
    leak.write_text(leak.read_text().replace(
        "DB_SECRET_NAME: !Ref SecretName", f'DB_SECRET_NAME: !Ref SecretName\n          db_password: "{DB_VALUE}"'))
    found = run_gates(root, gates={"secrets"}, cache_dir=cache).findings
    assert [(f.file, f.rule) for f in found if f.severity == "error"] == [
        ("templates/lambda-reads-secret.yaml", "secrets:KeywordDetector")]
