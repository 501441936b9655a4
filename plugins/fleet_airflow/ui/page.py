"""The Fleet page's HTML, rendered on the server from the same data as the JSON API (no build step).

Every value is escaped; links are relative to the page so they work behind any base URL. The page
is shown inside the Airflow UI (an external view's iframe) and on its own.
"""

from __future__ import annotations

import json
from html import escape as e
from urllib.parse import quote, urlencode

from fleet.fleetview import STATUSES

STYLE = """
body{font-family:system-ui,sans-serif;margin:1rem 1.5rem;color:#1f2937}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}
th,td{border:1px solid #d1d5db;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f4f6}.muted{color:#6b7280}.mono{font-family:ui-monospace,monospace}
.counts{display:flex;gap:.6rem;flex-wrap:wrap}
.count{border:1px solid #d1d5db;border-radius:.4rem;padding:.4rem .8rem;text-decoration:none;color:inherit}
.count b{display:block;font-size:1.4rem}.count.on{outline:2px solid #2563eb}
.s-in_sync,.s-success,.s-succeeded,.s-created,.s-existed,.s-IN_SYNC{color:#15803d}
.s-failed,.s-halted,.s-DRIFTED,.s-drifted,.s-UNKNOWN{color:#b91c1c;font-weight:600}
.s-behind,.s-never_deployed,.s-in_progress,.s-incomplete,.s-delete,.s-replace,.s-pending{color:#b45309}
form{margin:.6rem 0}
"""


# A page someone keeps open to watch a rollout reloads itself this often; one served from a
# snapshot older than its maximum age (a refresh is running behind it) reloads in STALE_RELOAD.
WATCH_RELOAD_SECONDS = 30
STALE_RELOAD_SECONDS = 2


def _doc(title: str, body: str, reload_seconds: int | None = None) -> str:
    reload = f"<meta http-equiv=refresh content='{int(reload_seconds)}'>" if reload_seconds else ""
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>{e(title)}</title>{reload}"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{STYLE}</style>"
            f"<body>{body}</body></html>")


def reload_after(as_of: float | None, max_age: float) -> int:
    """Seconds until the Fleet page reloads itself: soon when what it shows is older than the
    snapshot may be (the fresh data is being read), else at the watching pace."""
    stale = as_of is not None and max_age > 0 and as_of > max_age
    return STALE_RELOAD_SECONDS if stale else WATCH_RELOAD_SECONDS


def _s(value) -> str:
    """A status, coloured by its class."""
    text = "" if value is None else str(value)
    return f"<span class='s-{e(text.split(',')[0].strip())}'>{e(text)}</span>"


def _short(digest: str | None) -> str:
    return f"<span class=mono title='{e(digest)}'>{e(digest[:12])}</span>" if digest else "<span class=muted>-</span>"


def _run_link(run_id: str | None) -> str:
    if not run_id:
        return "<span class=muted>-</span>"
    return f"<a href='runs/{quote(run_id, safe='')}'>{e(run_id)}</a>"


def _table(head: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"<p class=muted>{e(empty)}</p>"
    return ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows) + "</table>")


def fleet_page(*, accounts: dict, rollout: dict | None, approvals: list[dict], vending: list[dict],
               drift: dict | None, ou: str | None, status: str | None, as_of: float | None = None,
               max_age: float = 0) -> str:
    def query(s: str) -> str:
        return urlencode({"status": s, **({"ou": ou} if ou else {})})

    counts = "".join(f"<a class='count{' on' if s == status else ''}' data-status='{s}' href='?{query(s)}'>"
                     f"<b>{accounts['counts'][s]}</b>{_s(s)}</a>" for s in STATUSES)
    ou_options = "".join(f"<option{' selected' if o == ou else ''}>{e(o)}</option>" for o in accounts["ous"])
    st_options = "".join(f"<option{' selected' if s == status else ''}>{e(s)}</option>" for s in STATUSES)
    form = (f"<form method=get>OU <select name=ou><option value=''>all</option>{ou_options}</select> "
            f"status <select name=status><option value=''>all</option>{st_options}</select> "
            f"<button type=submit>Filter</button></form>")
    account_rows = [[e(a["name"]), f"<span class=mono>{e(a['account_id'])}</span>", e(a["ou"] or "-"),
                     e(", ".join(f"{k}={v}" for k, v in sorted(a["tags"].items()))), _s(a["status"]),
                     _short(a["bundle_digest"]), _run_link(a["last_run_id"]), _short(a["last_good_digest"]),
                     "<br>".join(f"{e(st.get('baseline') or st['stack_name'])} {e(st['region'])} "
                                 f"{_short(st['bundle_digest'])} "
                                 f"{_s(st['status'])}" + (" <b class=s-drifted>drifted</b>" if st["drifted"] else "")
                                 + (f" <span class=muted>{e(st['error'])}</span>" if st.get("error") else "")
                                 for st in a["stacks"])] for a in accounts["accounts"]]
    reload = reload_after(as_of, max_age)
    age = "" if as_of is None else (f"data read {int(as_of)} s ago"
                                    + (", reading it again: this page reloads in a moment" if
                                       reload == STALE_RELOAD_SECONDS else "") + "; ")
    body = [f"<h1>Fleet</h1><p class=muted>{age}latest bundle {_short(accounts['current_digest'])}; "
            f"JSON: <a href='api/accounts'>accounts</a>, <a href='api/rollout'>rollout</a>, "
            f"<a href='api/approvals'>approvals</a>, <a href='api/vending'>vending</a>, "
            f"<a href='api/drift'>drift</a></p>",
            f"<div class=counts id=counts>{counts}</div>", form,
            f"<h2 id=accounts>Accounts ({len(accounts['accounts'])})</h2>",
            _table(["name", "id", "OU", "tags", "status", "bundle", "last run", "last good", "stacks"],
                   account_rows, "no account matches")]
    body.append("<h2 id=rollout>Latest rollout</h2>")
    if rollout:
        body.append(f"<p>run {_run_link(rollout['run_id'])}: "
                    + (f"{_s('halted')} {e(rollout['halt_reason'] or '')}" if rollout["halted"] else _s("succeeded"))
                    + (f"; never started: {e(', '.join(rollout['not_started']))}" if rollout["not_started"] else "")
                    + "</p>")
        body.append(_table(["wave", "outcome", "accounts", "failed", "stacks", "rolled back"],
                           [[str(w["wave"]), _s(w["outcome"]), e(", ".join(w["accounts"])),
                             e(", ".join(w["failed_accounts"]) or "-"), str(w["stacks"]), str(w["rolled_back"])]
                            for w in rollout["waves"]], "no waves"))
    else:
        body.append("<p class=muted>no prod rollout yet</p>")
    body.append("<h2 id=approvals>Pending approvals</h2>")
    body.append(_table(["run", "plan", "who may approve", "waiting", "deadline"],
                       [[_run_link(a["run_id"]), e(a["summary"] or ""), e(", ".join(a["approvers"])),
                         _age(a["age_seconds"]), e(a["deadline"])] for a in approvals],
                       "nothing is waiting for approval"))
    body.append("<h2 id=vending>Vending requests</h2>")
    body.append(_table(["account", "email", "id", "outcome", "stage", "reason", "updated"],
                       [[e(v["name"] or ""), e(v["email"] or ""), e(v["account_id"] or "-"), _s(v["outcome"]),
                         e(v["stage"] or ""), e(v["reason"] or ""), e(v["updated_at"] or "")] for v in vending],
                       "no account request yet"))
    body.append("<h2 id=drift>Drift</h2>")
    if drift:
        body.append(f"<p>run {e(drift['run_id'] or '-')} finished {e(drift['finished_at'] or '-')}: "
                    f"{e((drift['summary'] or {}).get('text', ''))}</p>")
        body.append(_table(["account", "id", "region", "stack", "status", "drifted resources", "error"],
                           [[e(s["account_name"] or ""), e(s["account_id"] or ""), e(s["region"] or ""),
                             e(s["stack_name"] or ""), _s(s["status"]), str(s["resources"]), e(s["error"] or "")]
                            for s in drift["stacks"]], "no baseline stack"))
    else:
        body.append("<p class=muted>no drift sweep yet</p>")
    return _doc("Fleet", "".join(body), reload)


def _age(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min"


def run_page(report: dict, *, plan: dict | None, approval: dict | None) -> str:
    run_id = report["run_id"]
    bundle = report.get("bundle") or {}
    stage_rows = [[e(s), _s(d.get("status")), e(d.get("summary", "")), e(d.get("plan", "")), e(d.get("reason", ""))]
                  for s, d in report["stages"].items()]
    stages = list(report["stages"])
    account_rows = [[e(a)] + [_s(v.get(s, "-")) for s in stages] for a, v in sorted(report["accounts"].items())]
    body = [f"<p><a href='../'>&larr; Fleet</a></p><h1>Run {e(run_id)}</h1>",
            f"<p>bundle {_short(bundle.get('digest'))} commit {_short(bundle.get('commit'))}"
            + (" " if bundle.get("digest") else " <span class=muted>(the run stopped before its bundle)</span>")
            + f" &middot; <a href='../api/runs/{quote(run_id, safe='')}'>JSON</a></p>",
            "<h2 id=stages>Stages</h2>",
            _table(["stage", "status", "summary", "plan", "why"], stage_rows, "no stage")]
    if report.get("failures"):
        body += ["<h2 id=failures>Failures</h2>",
                 _table(["stage", "task", "state", "reason"],
                        [[e(f["stage"]), f"<span class=mono>{e(f['task'])}</span>", _s(f["state"]), e(f["reason"])]
                         for f in report["failures"]], "none")]
    if roll := report.get("rollout"):
        outcome = _s("halted") + " " + e(roll["halt_reason"] or "") if roll["halted"] else _s("succeeded")
        body += [f"<h2 id=waves>Prod waves</h2><p>{outcome}</p>",
                 _table(["wave", "outcome", "accounts", "failed"],
                        [[str(w["wave"]), _s(w["outcome"]), e(", ".join(w["accounts"])),
                          e(", ".join(w["failed_accounts"]) or "-")] for w in roll["waves"]], "no waves")]
    body += ["<h2 id=accounts>Accounts</h2>",
             _table(["account", *stages], account_rows, "no account was deployed in this run")]
    body.append("<h2 id=plan>Prod plan</h2>")
    if plan:
        body.append(f"<p>{e(plan.get('summary', ''))}</p>")
        body.append(_table(["account", "region", "baseline", "action", "adds", "modifies", "replacements",
                            "deletions", "IAM", "parameters", "why"],
                           [[e(r.get("account_name", "")), e(r.get("region", "")),
                             e(r.get("baseline") or r.get("stack_name", "")), _s(r.get("action") or r.get("status")),
                             *(str(r.get(k, "")) for k in
                               ("adds", "modifies", "replacements", "deletions", "iam_changes")),
                             "<span class=mono>" + e(", ".join(f"{k}={v}" for k, v in
                                                              (r.get("parameters") or {}).items())) + "</span>",
                             e(r.get("reason") or "")]
                            for r in plan.get("accounts", [])], "no account in the plan"))
    else:
        body.append("<p class=muted>no prod plan for this run</p>")
    body.append("<h2 id=approval>Approval</h2>")
    if approval:
        body.append(f"<p>waiting {_age(approval['age_seconds'])} (deadline {e(approval['deadline'])}); "
                    f"who may approve: {e(', '.join(approval['approvers']))}. In Airflow: Required actions; "
                    f"or <span class=mono>{e(approval.get('command') or '')}</span></p>")
    else:
        body.append(f"<p>{e(report['stages'].get('prod', {}).get('plan', 'no pending approval for this run'))}</p>")
    body.append(f"<details><summary>raw report</summary><pre>{e(json.dumps(report, indent=1, default=str))}</pre>"
                "</details>")
    return _doc(f"Fleet run {run_id}", "".join(body))


def missing_report(run_id: str, bucket: str) -> str:
    return _doc(f"Fleet run {run_id}",
                f"<p><a href='../'>&larr; Fleet</a></p><h1>Run {e(run_id)}</h1>"
                f"<p>No run report for this run in s3://{e(bucket)}/reports/ yet. A report is written when the "
                f"run's last task (run_report) finishes; runs of other DAGs have no fleet run report.</p>")
