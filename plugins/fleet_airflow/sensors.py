"""Deferrable sensors over the fleet core: stacks settling, the external approval gate, account readiness.

``FleetBaseSensor`` is the base of every fleet sensor (these, and ``fleet_airflow.bake.BakeSensor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException

from fleet import approval
from fleet_airflow.hooks import FleetAwsMixin, fleet_template_fields
from fleet_airflow.links import ApprovalRequestLink, CloudFormationStackLink
from fleet_airflow.triggers import (AccountReadinessTrigger, ApprovalDecisionTrigger, FleetBaseTrigger,
                                    StacksSettledTrigger)


class FleetBaseSensor(FleetAwsMixin, BaseSensorOperator):
    """A sensor over the fleet core, in the Amazon provider's shape.

    :param aws_conn_id: the management account's AWS connection.
    :param region_name: the organization's home region.
    :param pipeline_role: the role assumed in member accounts.
    :param poll_interval: seconds between looks, in the triggerer (deferred) or the worker (poking).
    :param deferrable: wait in the triggerer, holding no worker slot.
    """

    template_fields: Sequence[str] = fleet_template_fields()

    def __init__(self, *, region_name: str, pipeline_role: str, aws_conn_id: str | None = "aws_default",
                 poll_interval: float = 10.0, deferrable: bool = True, **kwargs):
        if isinstance(poll_interval, (int, float)):  # a template (XCom) is only known at run time
            kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.aws_conn_id, self.region_name, self.pipeline_role = aws_conn_id, region_name, pipeline_role
        self.poll_interval, self.deferrable = poll_interval, deferrable

    def trigger_arguments(self) -> dict[str, Any]:
        """What every fleet trigger takes from its sensor (the connection, never a credential)."""
        return {"aws_conn_id": self.aws_conn_id, "region_name": self.region_name,
                "pipeline_role": self.pipeline_role, "poll_interval": float(self.poll_interval)}

    def defer_to(self, trigger: FleetBaseTrigger) -> None:
        self.defer(trigger=trigger, method_name="execute_complete")


class StacksSettledSensor(FleetBaseSensor):
    """Wait until none of the deployments' stacks is in an *_IN_PROGRESS state."""

    template_fields: Sequence[str] = fleet_template_fields("deployments")
    operator_extra_links = (CloudFormationStackLink(),)

    def __init__(self, *, deployments: Any, **kwargs):
        super().__init__(**kwargs)
        self.deployments = deployments

    def poke(self, context) -> bool:
        from fleet.stages import environment

        return environment.settled(self.fleet_context, self.deployments)

    def execute(self, context) -> None:
        CloudFormationStackLink.persist_deployments(context, self, ctx=self.fleet_context, deployments=self.deployments)
        if self.poke(context):
            return
        if not self.deferrable:
            return super().execute(context)
        self.defer_to(StacksSettledTrigger(deployments=self.deployments, timeout_seconds=self.timeout,
                                           **self.trigger_arguments()))

    def execute_complete(self, context, event: dict) -> None:
        if event["status"] != "ready":
            raise AirflowFailException(f"stacks did not settle: {event.get('message', event['status'])}")


class ExternalApprovalSensor(FleetBaseSensor):
    """The prod gate: publish the approval request, then wait for a decision it can verify.

    The one gate whichever path made the decision: ``fleet approve`` records are signed with the
    approver's own key and verified with their public key from the bundle's config; a decision in
    the Airflow UI is read from prod.ui_approval's result in this run (Airflow authenticated the
    user; the pipeline holds no private key, so nothing here can sign). Both are judged by the same
    rules (``fleet.approval``). Records that do not count are logged and waited past; any valid
    rejection fails the task with its reason; no decision before the timeout fails closed. While
    waiting, the sensor is deferred to ApprovalDecisionTrigger, which only counts records.

    ``approvers``: names (display; the identities then come from the bundle's config) or the
    identities themselves ({name, email, public_key}). ``authors``: git author emails of the
    bundle's commits since the last prod deployment (source.snapshot's ``authors``).
    ``store``/``table``/``topic`` default to the ``approval`` section of the bundle being approved.
    """

    template_fields: Sequence[str] = fleet_template_fields(
        "bucket", "bundle_digest", "plan_digest", "summary", "approvers", "timeout_hours", "store", "table", "topic",
        "authors", "commit", "fleet_repo", "source_ref", "targets")
    operator_extra_links = (ApprovalRequestLink(),)
    UI_TASK_ID = "prod.ui_approval"

    def __init__(self, *, bucket: str, bundle_digest: str, plan_digest: str | None, summary: str,
                 approvers: Any, timeout_hours: float = 24, store: str | None = None, table: str | None = None,
                 topic: str | None = None, authors: Any = (), commit: Any = None, fleet_repo: Any = None,
                 source_ref: Any = None, targets: Any = (), notify=None, **kwargs):
        super().__init__(**kwargs)
        self.bucket, self.bundle_digest, self.plan_digest = bucket, bundle_digest, plan_digest
        self.summary, self.approvers, self.timeout_hours = summary, approvers, timeout_hours
        self.notify = notify
        self.store, self.table, self.topic = store, table, topic
        self.authors, self.commit, self.fleet_repo, self.source_ref = authors, commit, fleet_repo, source_ref
        self.targets = targets
        self._bundle_settings: dict | None = None

    def _from_bundle(self) -> dict:
        if self._bundle_settings is None:
            from fleet_airflow.approvals import settings_from_bundle

            self._bundle_settings = settings_from_bundle(self.fleet_context, self.bucket, self.bundle_digest)
        return self._bundle_settings

    def _settings(self) -> dict:
        if self.store is None or self.topic is None:
            found = self._from_bundle()
            self.store = self.store or found["store"]
            self.table = self.table or found["table"]
            self.topic = found["topic"] if self.topic is None else self.topic
        return {"store": self.store, "table": self.table or "fleet-approvals", "topic": self.topic}

    def _identities(self) -> list[dict]:
        """Who may decide and with which public key: given, or the bundle's own config (never the repo's HEAD)."""
        given = list(self.approvers or [])
        if given and all(isinstance(a, dict) for a in given):
            return given
        return self._from_bundle()["approvers"]

    def _store(self):
        return approval.open_store(self.fleet_context, self._settings(), self.bucket)

    def _triggered_by(self, context) -> str | None:
        return getattr(context["dag_run"], "triggering_user_name", None)

    def _target_names(self) -> list[str]:
        # The plan's rows (one per account and region) or plain names.
        names = [t.get("account_name") if isinstance(t, dict) else t for t in (self.targets or [])]
        return list(dict.fromkeys(str(n) for n in names if n))

    def execute(self, context) -> dict:
        from fleet_airflow.approvals import publish_request

        run_id = context["run_id"]
        names = tuple(a["name"] for a in self._identities())
        if not names:  # no one could ever approve: fail now, not after hours of waiting
            raise AirflowFailException("the bundle's config names no approver (approval.approvers)")
        req = publish_request(
            self.fleet_context, self._store(), aws_conn_id=self.aws_conn_id, region_name=self.region_name,
            run_id=run_id,
            bundle_digest=self.bundle_digest, plan_digest=self.plan_digest or None, summary=self.summary,
            triggered_by=self._triggered_by(context), approvers=names,
            timeout_hours=float(self.timeout_hours), topic=self._settings()["topic"],
            commit=self.commit or None, fleet_repo=self.fleet_repo or None, source_ref=self.source_ref or None,
            targets=self._target_names())
        self.log.info("Approval requested for bundle %s plan %s. Decide with: %s", self.bundle_digest[:12],
                      (self.plan_digest or "-")[:12], req["command"])
        if not self.authors:
            self.log.warning("no commit authors known for this bundle (not a git commit?): approvers are not "
                             "checked against the bundle's authors")
        settings = self._settings()
        ApprovalRequestLink.persist_for(context, self, ctx=self.fleet_context, store=settings["store"],
                                        table=settings["table"], bucket=self.bucket,
                                        key=approval.request_key(run_id))
        if self.notify:
            self.notify(req)
        return self._decide_or_wait(context)

    def execute_complete(self, context, event: dict) -> dict:
        # "timeout" is the half-way mark (the overdue alert) or the deadline: _decide_or_wait tells which.
        if event["status"] not in ("ready", "timeout"):
            raise AirflowFailException(f"approval wait failed: {event.get('message')}")
        return self._decide_or_wait(context)

    def _ui_decision(self, context) -> dict | None:
        """What prod.ui_approval returned in this very run (Airflow authenticated its user), if it ran."""
        ti = context.get("ti")
        if ti is None:
            return None
        found = ti.xcom_pull(task_ids=self.UI_TASK_ID)
        return found if isinstance(found, dict) else None

    def _decide_or_wait(self, context) -> dict:
        run_id = context["run_id"]
        store = self._store()
        # Counted before judging: a record landing while we judge is then newer than `counted` and
        # wakes the trigger at once, instead of being counted as seen but never judged.
        counted = len(store.list(approval.decisions_prefix(run_id)))
        verdict = approval.evaluate(store, run_id=run_id, bundle_digest=self.bundle_digest,
                                    plan_digest=self.plan_digest or None, approvers=self._identities(),
                                    triggered_by=self._triggered_by(context), authors=tuple(self.authors or ()),
                                    ui_decision=self._ui_decision(context))
        for why in verdict.ignored:
            self.log.warning("Ignored approval record %s", why)
        if verdict.state == "approved":
            self.log.info("Approved: %s", verdict.reason)
            return {**verdict.decision, "ignored": verdict.ignored}
        if verdict.state == "rejected":
            raise AirflowFailException(f"rejected: {verdict.reason}")
        from fleet_airflow.approvals import alert_overdue_once, wait_left

        self.timeout_hours = float(self.timeout_hours)
        half, remaining = wait_left(store, run_id, self.timeout_hours)
        if remaining.total_seconds() <= 0:
            raise AirflowFailException(f"no approval decision within {self.timeout_hours} h: failing closed; "
                                       "nothing was deployed to prod")
        if half is None and alert_overdue_once(self.fleet_context, store, bucket=self.bucket,
                                               bundle_digest=self.bundle_digest, run_id=run_id,
                                               timeout_hours=self.timeout_hours):
            self.log.warning("Approval overdue: past half of its %s h timeout; alert sent", self.timeout_hours)
        settings = self._settings()
        self.defer_to(ApprovalDecisionTrigger(
            store=settings["store"], table=settings["table"], bucket=self.bucket, run_id=run_id,
            seen=counted,
            timeout_seconds=(half or remaining).total_seconds(), **self.trigger_arguments()))


class AccountReadySensor(FleetBaseSensor):
    """Wait until a requested account is usable: created, pipeline role assumable, regions answering.

    ``outcome`` is what the request task returned (``fleet.accounts.Outcome`` as a dict);
    ``regions`` are those that must answer, ``timeout_seconds`` the account's own readiness timeout.
    After one look of its own it defers to AccountReadinessTrigger, so the wait holds no worker slot.
    The result, ready or failed with AWS's reason or timed out naming the account, is written to the
    request log.
    """

    template_fields: Sequence[str] = fleet_template_fields("outcome", "regions", "timeout_seconds", "poll_interval")
    ui_color = "#f0e4ff"

    def __init__(self, *, outcome: Any, regions: Any, timeout_seconds: Any, **kwargs):
        super().__init__(**kwargs)
        self.outcome, self.regions, self.timeout_seconds = outcome, regions, timeout_seconds

    def execute(self, context) -> dict:
        from fleet.accounts import check_ready

        o = self.outcome
        if o["status"] == "failed":
            raise AirflowFailException(f"account {o['name']}: {o.get('reason')}")
        state = check_ready(self.fleet_context, o["name"], o.get("request_id"), o.get("account_id"),
                            tuple(self.regions), o.get("backend", "organizations"))
        if state.done:
            return self._finish(context, state.stage, state.account_id, state.detail, [state.stage], deferred=False)
        self.log.info("%s; waiting in the triggerer (timeout %ss)", state.detail, self.timeout_seconds)
        self.defer_to(AccountReadinessTrigger(
            name=o["name"], request_id=o.get("request_id"), account_id=state.account_id or o.get("account_id"),
            backend=o.get("backend", "organizations"), regions=list(self.regions),
            timeout_seconds=float(self.timeout_seconds), seen=[state.stage], **self.trigger_arguments()))

    def execute_complete(self, context, event: dict) -> dict:
        return self._finish(context, event["status"], event.get("account_id"), event.get("detail", ""),
                            event.get("seen", []), deferred=True, polls=event.get("polls", 0))

    def _finish(self, context, stage: str, account_id: str | None, detail: str, seen: list[str], *,
                deferred: bool, polls: int = 0) -> dict:
        from fleet.accounts import Readiness, Request, settle
        from fleet.vending_log import RequestLog

        o = self.outcome
        stage = "failed" if stage == "error" else stage
        record = settle(RequestLog(self.fleet_context), Request(o["name"], o["email"], o.get("ou", "")),
                        context["run_id"], Readiness(stage, account_id, detail))
        self.log.info("account %s: stages seen %s", o["name"], " -> ".join(seen))
        if stage != "ready":
            raise AirflowFailException(detail)
        return {"name": o["name"], "email": o["email"], "account_id": account_id, "outcome": record["outcome"],
                "seen": seen, "deferred": deferred, "polls": polls}
