"""The second approval path: decide in the Airflow UI (standard provider's human-in-the-loop).

``FleetUIApprovalOperator`` is an ``ApprovalOperator`` (options Approve / Reject, plus a Reason
field) that runs *before* ``prod.approval`` when UI approval is on (``approval.ui: true`` in the
bundle's config, or ``{"approval_ui": true}`` in the run's conf). It publishes the same approval
request as the sensor, parks in Airflow 3.3's ``awaiting_input`` state (no worker slot, no
trigger), and when someone answers in Required actions it returns the answer (approver = the
responding Airflow user, whom Airflow authenticated; ``via: airflow-ui``) for the gate to judge,
and writes an unsigned audit copy to the same store (which also wakes the deferred gate). No key
is on a worker, so this task cannot sign anything.

Who may answer is Airflow's own check: the task's ``assigned_users`` are the configured approvers
(their Airflow user id is their approver name) minus the user who triggered the run, so anyone
else gets Airflow's 403 in the UI and the task keeps waiting. An answer that still names someone
else (another auth manager mapping ids differently) fails this task, visibly, and records nothing.

The wait is split at half the approval timeout: the scheduler's timeout sweep resumes the task
there, it publishes the ``approval_waiting`` alert once and parks again for the rest; at the full
timeout it fails closed.

It is deliberately not the gate: ``prod.approval`` judges this task's result by exactly the rules
it applies to ``fleet approve`` records (the signature aside), the bundle's commit authors included.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import Param, ParamsDict
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskAwaitingInput

from fleet import approval
from fleet_airflow.hooks import FleetAwsMixin, fleet_template_fields
from fleet_airflow.links import ApprovalRequestLink


class FleetUIApprovalOperator(FleetAwsMixin, ApprovalOperator):
    template_fields: Sequence[str] = fleet_template_fields("subject", "body", "bucket", "bundle_digest", "plan_digest",
                                                           "summary", "approvers", "timeout_hours", "auto_approved")
    operator_extra_links = (ApprovalRequestLink(),)

    def __init__(self, *, bucket: str, bundle_digest: str, plan_digest: str | None, summary: str, approvers: Any,
                 region_name: str, pipeline_role: str, timeout_hours: Any = 24, auto_approved: Any = False,
                 aws_conn_id: str = "aws_default", ui: bool | None = None,
                 settings: dict | None = None, **kwargs):
        kwargs.setdefault("subject", "Approve the prod rollout of bundle {{ ti.xcom_pull(task_ids='source.snapshot')"
                                     "['digest'][:12] }}?")
        # Inside a DAG, kwargs["params"] already holds the DAG's Params (merged in before __init__
        # runs), and HITLOperator keeps only Params whose source is "task": added beside them, so the
        # Reason field shows (a setdefault here was a no-op in a DAG and hid it).
        params = kwargs.get("params")
        params = params if isinstance(params, ParamsDict) else ParamsDict(params or {})
        params.update(ParamsDict({"reason": Param("", type="string", title="Reason", source="task",
                                                  description="What you checked, or why you reject")}))
        kwargs["params"] = params
        super().__init__(**kwargs)
        self.bucket, self.bundle_digest, self.plan_digest, self.summary = bucket, bundle_digest, plan_digest, summary
        self.approvers, self.region_name, self.pipeline_role = approvers, region_name, pipeline_role
        self.timeout_hours, self.auto_approved, self.ui = timeout_hours, auto_approved, ui
        self.aws_conn_id = aws_conn_id
        self.settings = settings  # store/table/topic/ui; default: the bundle's approval section

    @property
    def approver_names(self) -> list[str]:
        """The approvers' names (their Airflow user ids): the config gives {name, email, public_key}."""
        return [a["name"] if isinstance(a, dict) else str(a) for a in self.approvers or ()]

    def _settings(self) -> dict:
        from fleet_airflow.approvals import settings_from_bundle

        if self.settings is None:
            self.settings = settings_from_bundle(self.fleet_context, self.bucket, self.bundle_digest)
        return self.settings

    def _ui_wanted(self, context, settings: dict) -> bool:
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        if "approval_ui" in conf and conf["approval_ui"] is not None:
            return bool(conf["approval_ui"])
        param = (context.get("params") or {}).get("approval_ui")
        if param is not None:  # the trigger form's choice; None: as the config says
            return bool(param)
        if self.ui is not None:
            return bool(self.ui)
        return bool(settings.get("ui"))

    def execute(self, context):
        from fleet_airflow.approvals import publish_request

        params = context.get("params") or {}
        if params.get("dry_run"):
            raise AirflowSkipException("dry run: no approval is asked for")
        if str(self.auto_approved).lower() == "true":
            raise AirflowSkipException("empty plan: approved automatically, no human needed")
        settings = self._settings()
        if not self._ui_wanted(context, settings):
            raise AirflowSkipException("UI approval is off (approval.ui, or run conf approval_ui): "
                                       "decide with `fleet approve`")
        ctx = self.fleet_context
        store = approval.open_store(ctx, settings, self.bucket)
        dag_run = context["dag_run"]
        try:
            url = self.generate_link_to_ui_from_context(context=context)
        except Exception:  # no [api] base_url configured: the request still names the task
            url = f"dags/{dag_run.dag_id}/runs/{context['run_id']}/tasks/{self.task_id}/required_actions"
        req = publish_request(
            ctx, store, aws_conn_id=self.aws_conn_id, region_name=self.region_name, run_id=context["run_id"],
            bundle_digest=self.bundle_digest, plan_digest=self.plan_digest or None, summary=self.summary,
            triggered_by=getattr(dag_run, "triggering_user_name", None), approvers=tuple(self.approver_names),
            timeout_hours=float(self.timeout_hours), topic=settings.get("topic"), ui_url=url)
        ApprovalRequestLink.persist_for(context, self, ctx=ctx, store=settings.get("store", "s3"),
                                        table=settings.get("table", "fleet-approvals"), bucket=self.bucket,
                                        key=approval.request_key(context["run_id"]))
        self.body = "\n".join([
            f"**Plan:** {self.summary}", "",
            f"- run: `{context['run_id']}`",
            f"- bundle digest: `{self.bundle_digest}`",
            f"- plan digest: `{self.plan_digest or '-'}`",
            f"- allowed approvers: {', '.join(self.approver_names)} (not the user who triggered the run: "
            f"{req.get('triggered_by') or '-'})", "",
            "Your answer goes to `prod.approval`, the gate, which accepts it "
            "only from an allowed approver. Outside Airflow: " + f"`{req['command']}`",
            *self._earlier_try_note(context)])
        # Airflow's own respondent check: the approvers, never the user who triggered the run.
        triggered_by = req.get("triggered_by")
        self.assigned_users = [{"id": a, "name": a} for a in self.approver_names if a != triggered_by]
        if not self.assigned_users:
            raise AirflowFailException(f"no approver may decide this run: approval.approvers {self.approver_names} "
                                       f"holds only {triggered_by!r}, who triggered it")
        self.response_timeout = self._next_wait(store, context["run_id"])
        return super().execute(context)

    @staticmethod
    def _earlier_try_note(context) -> list[str]:
        """Said on a retry: Airflow 3.3's scheduler can fail a task that an answer resumed within a
        second or two of its park (the parked process's exit is then taken for the resumed try's
        death, "state mismatch"), and the retry's request starts with no answer (README, "Approving
        in the UI")."""
        try_number = getattr(context.get("ti"), "try_number", 1) or 1
        if try_number <= 1:
            return []
        return ["", f"**This is try {try_number}.** An answer given to an earlier try was not taken: "
                    "if you answered before, answer again."]

    def _next_wait(self, store, run_id: str) -> timedelta:
        """Until half the timeout (the overdue alert), or, once alerted, until the deadline."""
        from fleet_airflow.approvals import wait_left

        half, full = wait_left(store, run_id, float(self.timeout_hours))
        return half if half is not None else full

    def execute_complete(self, context, event: dict[str, Any]) -> dict:
        # HITLOperator's checks (valid option, params), but not ApprovalOperator's skipping: a
        # "Reject" is a decision for the gate to act on, with its reason, not a silent skip.
        from fleet_airflow.approvals import alert_overdue_once

        settings = self._settings()
        store = approval.open_store(self.fleet_context, settings, self.bucket)
        if event.get("error_type") == "timeout":
            # The half-way mark (or the deadline): alert once and wait for the rest, or fail closed.
            wait = self._next_wait(store, context["run_id"])
            if wait.total_seconds() <= 0:
                raise AirflowFailException(f"no approval decision within {self.timeout_hours} h: failing closed; "
                                           "nothing was deployed to prod")
            alert_overdue_once(self.fleet_context, store, bucket=self.bucket, bundle_digest=self.bundle_digest,
                               run_id=context["run_id"], timeout_hours=float(self.timeout_hours))
            raise TaskAwaitingInput(method_name="execute_complete", timeout=self._next_wait(store, context["run_id"]))
        ret = HITLOperator.execute_complete(self, context=context, event=event)
        chosen = ret["chosen_options"][0]
        user = ret.get("responded_by_user") or {}
        approver = user.get("id") or user.get("name")
        if not approver:
            raise AirflowFailException("the human-in-the-loop answer names no user; nothing recorded")
        triggered_by = getattr(context["dag_run"], "triggering_user_name", None)
        if approver not in self.approver_names or approver == triggered_by:
            why = ("triggered this run (segregation of duties)" if approver == triggered_by
                   else f"is not in approval.approvers ({', '.join(self.approver_names)})")
            raise AirflowFailException(f"the UI answer of {approver!r} does not count: {approver!r} {why}; "
                                       "nothing recorded, prod.approval will not run. Clear this task to ask again.")
        reason = str((ret.get("params_input") or {}).get("reason") or "")
        # Unsigned (no key on a worker): the audit copy, and what wakes the deferred gate. The gate takes
        # the decision from this task's return value (XCom), never from the store.
        record = approval.record_audit(
            store, run_id=context["run_id"], bundle_digest=self.bundle_digest, plan_digest=self.plan_digest or None,
            approver=str(approver), approve=chosen == self.APPROVE, reason=reason, via=approval.UI)
        self.log.info("UI decision %s by %s, for prod.approval to judge", record["decision"], approver)
        return record
