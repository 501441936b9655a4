"""Behaviour profiles end to end, on the real clock: `--profile` on the command lines, LocalAws
seeding untouched by its profile, and a new account's way to ready as a poller sees it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from localaws.clients import assume_role, client
from localaws.behaviour import get_profile, load_profile
from localaws.server import LocalAws

from localaws_support import SAMPLE_FLEET


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "localaws", *args], capture_output=True, text=True, timeout=90)


@pytest.fixture
def bad_profile(tmp_path) -> Path:
    path = tmp_path / "slow.yaml"
    path.write_text("cloudformation:\n  in_progress_seconds: 1\n  fail_stack: []\n")
    return path


def test_the_localaws_command_refuses_a_bad_profile_before_starting(tmp_path, bad_profile):
    # The package's own console script (`localaws`, installed next to this interpreter).
    command = Path(sys.executable).parent / "localaws"
    done = subprocess.run([str(command), "up", "--profile", str(bad_profile), "--port", str(_free_port()),
                           "--state-dir", str(tmp_path / "state")], capture_output=True, text=True, timeout=90)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"local AWS: bad profile: {bad_profile}:3: cloudformation.fail_stack: expected "
                                   "one of the keys in_progress_seconds, fail_stacks (unknown key)")
    assert not (tmp_path / "state" / "state.json").exists()


def test_localaws_commands_refuse_a_bad_or_missing_profile(tmp_path, bad_profile, capsys):
    from localaws.__main__ import main

    assert main(["serve", "--port", "0", "--profile", str(bad_profile)]) == 2
    assert "cloudformation.fail_stack" in capsys.readouterr().err
    missing = _cli("up", "--port", str(_free_port()), "--state-dir", str(tmp_path), "--profile", "nowhere.yaml")
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("local AWS: bad profile: ")
    assert "nowhere.yaml" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1


def test_up_with_the_realistic_profile_then_status_and_down(tmp_path):
    port, state_dir = _free_port(), tmp_path / "state"
    up = _cli("up", "--port", str(port), "--state-dir", str(state_dir), "--profile", "realistic")
    try:
        assert up.returncode == 0, up.stderr
        assert "profile realistic" in up.stdout
        state = json.loads((state_dir / "state.json").read_text())
        assert state["profile"] == "realistic"
        status = _cli("status", "--state-dir", str(state_dir))
        assert status.returncode == 0 and "profile realistic" in status.stdout
        url = state["endpoint_url"]
        assert {k: v for k, v in get_profile(url).items() if k != "stats"} == load_profile("realistic").to_dict()
        org = client("organizations", url)
        org.create_organization(FeatureSet="ALL")
        created = org.create_account(AccountName="slow", Email="slow@example.com")["CreateAccountStatus"]
        assert created["State"] == "IN_PROGRESS"  # the profile is what the server applies
        again = _cli("up", "--port", str(port), "--state-dir", str(state_dir))
        assert again.returncode == 1 and "profile realistic" in again.stderr
    finally:
        down = _cli("down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr


def test_seeding_is_untouched_and_the_profile_applies_after(tmp_path):
    path = tmp_path / "hostile.yaml"
    path.write_text(
        "organizations:\n"
        "  create_account:\n"
        "    in_progress_seconds: 0.3\n"
        "    failures: {'*@example.com': EMAIL_ALREADY_EXISTS}\n"
        "throttling:\n"
        "  - {service: organizations, operations: [ListAccounts], rate: 1.0}\n")
    with LocalAws(fleet_config=SAMPLE_FLEET, profile=path) as aws:
        assert {"audit", "app-prod-08"} <= set(aws.accounts)  # seeding created every account
        org = client("organizations", aws.endpoint_url)
        with pytest.raises(ClientError, match="TooManyRequestsException"):
            org.list_accounts()
        request_id = org.create_account(AccountName="late", Email="late@example.com")["CreateAccountStatus"]["Id"]
        time.sleep(0.35)
        status = org.describe_create_account_status(CreateAccountRequestId=request_id)["CreateAccountStatus"]
        assert (status["State"], status["FailureReason"]) == ("FAILED", "EMAIL_ALREADY_EXISTS")


def test_a_new_account_on_its_way_to_ready(tmp_path):
    """What a readiness poller sees on the real clock: creating, role not assumable, a region not
    answering, ready; each stage in order, none skipped."""
    # Windows wide enough for a poll to land in each on a loaded 2-core machine (one poll, an
    # AssumeRole and a GetCallerIdentity, was seen to take over 1.5 s there).
    profile = {"organizations": {"create_account": {"in_progress_seconds": 0.6},
                                 "role_assumable_after_seconds": 3, "regions_answer_after_seconds": 6},
               "cloudformation": {"in_progress_seconds": 1.0}}
    with LocalAws(profile=load_profile(profile)) as aws:
        url = aws.endpoint_url
        org = client("organizations", url)
        try:
            org.describe_organization()
        except org.exceptions.AWSOrganizationsNotInUseException:
            org.create_organization(FeatureSet="ALL")
        name = f"ready-{uuid.uuid4().hex[:8]}"
        request_id = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["Id"]
        stages: list[str] = []
        account_id = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if account_id is None:
                status = org.describe_create_account_status(CreateAccountRequestId=request_id)["CreateAccountStatus"]
                account_id = status.get("AccountId")
                stage = "create" if account_id is None else None
            if account_id is not None:
                try:
                    creds = assume_role(url, account_id)
                    client("sts", url, "eu-west-1", creds).get_caller_identity()
                    stage = "ready"
                except ClientError as exc:
                    stage = {"AccessDenied": "role", "InvalidClientTokenId": "regions"}[exc.response["Error"]["Code"]]
            if not stages or stages[-1] != stage:
                stages.append(stage)
            if stage == "ready":
                break
            time.sleep(0.05)
        assert stages == ["create", "role", "regions", "ready"]
        cfn = client("cloudformation", url, credentials=creds)
        cfn.create_stack(StackName="baseline", TemplateBody=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}))
        assert cfn.describe_stacks(StackName="baseline")["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"
        waiter = cfn.get_waiter("stack_create_complete")
        waiter.wait(StackName="baseline", WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
