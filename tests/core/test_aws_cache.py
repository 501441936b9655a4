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
