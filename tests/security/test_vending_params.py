"""account_vending's Params within AWS's own limits (issue 12, item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.accounts import VendingParamError, readiness_settings
from fleet.config import ConfigError, Vending, account_requests, load_config

REPO = Path(__file__).resolve().parents[2]
FLEET = load_config(REPO / "include" / "fleet.yaml")


def req(**over) -> dict:
    return {"name": "new-one", "email": "new-one@example.com", "ou": "Prod", **over}


def problems(data) -> list[str]:
    with pytest.raises(ConfigError) as err:
        account_requests(data, FLEET)
    return [str(p) for p in err.value.problems]


@pytest.mark.parametrize("data, key, words", [
    ([req(email="a" * 53 + "@example.com")], "accounts[0].email", "at most 64 characters"),
    ([req(tags={f"k{i}": "v" for i in range(51)})], "accounts[0].tags", "50"),
    ([req(tags={"k" * 129: "v"})], "accounts[0].tags", "1 to 128 characters"),
    ([req(tags={"team": "v" * 257})], "accounts[0].tags.team", "at most 256 characters"),
    ([req(tags={"aws:createdBy": "me"})], "accounts[0].tags", "not starting with aws:"),
    ([req(tags={"AWS:x": "me"})], "accounts[0].tags", "not starting with aws:"),
    ([req(name=f"n{i}", email=f"n{i}@example.com") for i in range(21)], "accounts", "at most 20 account requests"),
    ([req(), req(email="other@example.com")], "accounts[1].name", "a unique account name"),
    ([req(name="audit")], "accounts[0].name", "the config's account with email audit@example.com"),
    ([req(email="audit@example.com")], "accounts[0].email", "belongs to the config's account 'audit'"),
])
def test_account_requests_outside_aws_limits_are_refused_by_key(data, key, words):
    found = problems(data)
    assert any(f": {key}" in p and words in p for p in found), found


def test_requests_within_the_limits_pass_and_a_config_account_may_be_asked_for_again():
    ok = account_requests([req(tags={f"k{i}": "v" * 256 for i in range(50)}),
                           {"name": "audit", "email": "audit@example.com", "ou": "Security"}], FLEET)
    assert [a.name for a in ok] == ["new-one", "audit"]


@pytest.mark.parametrize("timeout, poll, words", [
    (None, 0, "poll_seconds: a number of at least 5"),
    (None, 4.9, "poll_seconds"),
    (None, 86_400, "poll_seconds"),
    (None, float("nan"), "poll_seconds"),
    (None, True, "poll_seconds"),
    (1e9, None, "readiness_timeout_minutes: a number above 0 and at most 1440"),
    (0, None, "readiness_timeout_minutes"),
    (float("inf"), None, "readiness_timeout_minutes"),
    ("soon", None, "readiness_timeout_minutes"),
])
def test_readiness_params_out_of_bounds_are_refused(monkeypatch, timeout, poll, words):
    monkeypatch.delenv("FLEET_MIN_POLL_SECONDS", raising=False)  # a deployment's floor, not the test rig's
    with pytest.raises(VendingParamError, match=words.replace("(", r"\(")):
        readiness_settings(Vending(), timeout, poll)


def test_readiness_params_within_bounds_and_the_config_defaults(monkeypatch):
    monkeypatch.delenv("FLEET_MIN_POLL_SECONDS", raising=False)
    assert readiness_settings(Vending(), None, None) == (60 * Vending.readiness_timeout_minutes, Vending.poll_seconds)
    assert readiness_settings(Vending(), 1440, 5) == (86_400, 5)
    # the operator's environment may lower the floor (a local rig), never below what it says
    monkeypatch.setenv("FLEET_MIN_POLL_SECONDS", "0.5")
    assert readiness_settings(Vending(), None, 0.5)[1] == 0.5
    with pytest.raises(VendingParamError):
        readiness_settings(Vending(), None, 0)


def test_the_config_refuses_a_poll_below_5_seconds(tmp_path):
    import shutil

    shutil.copytree(REPO / "include", tmp_path / "include")
    cfg = tmp_path / "include" / "fleet.yaml"
    text = cfg.read_text()
    assert "\nvending:" not in text
    cfg.write_text(text + "\nvending:\n  poll_seconds: 1\n")
    with pytest.raises(ConfigError, match="vending.poll_seconds"):
        load_config(cfg)
