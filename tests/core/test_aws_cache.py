"""The member-account client and credential caches are bounded, so a worker's memory stays flat
however large the fleet (README: "10,000 accounts")."""

from __future__ import annotations

from fleet.aws import AwsContext


def _members(ctx: AwsContext, n: int) -> list[str]:
    mgmt = ctx.management_account()
    ids = [a["Id"] for page in ctx.client("organizations").get_paginator("list_accounts").paginate()
           for a in page["Accounts"] if a["Id"] != mgmt]
    assert len(ids) >= n, f"the seeded organization has only {len(ids)} member accounts"
    return ids[:n]


def test_clients_and_credentials_are_evicted_least_recently_used_first(seeded_fleet):
    ctx = AwsContext(seeded_fleet.session, seeded_fleet.region, endpoint_url=None,
                     max_clients=3, max_credentials=2)
    a, b, c = _members(ctx, 3)
    first_a = ctx.client("s3", a)
    ctx.client("s3", b)
    assert ctx.client("s3", a) is first_a  # cached, and now the most recently used
    ctx.client("s3", c)  # a third principal: b's credentials (least recently used) go, with b's clients
    assert set(ctx._credentials) == {a, c}
    assert {k[1] for k in ctx._clients} <= {None, a, c}
    assert len(ctx._clients) <= 3
    # The evicted account is still reachable: new credentials, a new client that works.
    ctx.client("sts", b).get_caller_identity()
    assert len(ctx._credentials) == 2 and len(ctx._clients) <= 3


def test_many_accounts_keep_the_cache_at_its_bound(seeded_fleet):
    ctx = AwsContext(seeded_fleet.session, seeded_fleet.region, max_clients=4, max_credentials=4)
    ids = _members(ctx, 6)
    for account in ids:
        assert ctx.client("sts", account).get_caller_identity()["Account"] == account
    assert len(ctx._clients) <= 4 and len(ctx._credentials) <= 4
    assert ids[-1] in ctx._credentials and ids[0] not in ctx._credentials


def test_an_evicted_client_is_closed_and_still_works_for_whoever_holds_it(seeded_fleet):
    ctx = AwsContext(seeded_fleet.session, seeded_fleet.region, max_clients=2, max_credentials=8)
    a, b, c = _members(ctx, 3)
    held = ctx.client("sts", a)
    pools = held._endpoint.http_session._manager.pools
    held.get_caller_identity()
    assert len(pools) == 1  # its connection to the endpoint, kept for the next call
    ctx.client("sts", b)
    ctx.client("sts", c)  # a's client is the least recently used: evicted, and its pool released
    assert (("sts", a, ctx.region)) not in ctx._clients and len(pools) == 0
    assert held.get_caller_identity()["Account"] == a  # a thread that still holds it is not hurt


def test_the_bounds_come_from_the_environment_and_refuse_nonsense(monkeypatch):
    import pytest

    from fleet.aws import _setting

    assert _setting("FLEET_MAX_CLIENTS", 256, 16) == 256
    monkeypatch.setenv("FLEET_MAX_CLIENTS", "1100")
    assert _setting("FLEET_MAX_CLIENTS", 256, 16) == 1100
    for bad in ("lots", "3"):
        monkeypatch.setenv("FLEET_MAX_CLIENTS", bad)
        with pytest.raises(ValueError, match=f"FLEET_MAX_CLIENTS: expected a whole number of at least 16, got '{bad}'"):
            _setting("FLEET_MAX_CLIENTS", 256, 16)
