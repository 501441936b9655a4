"""An empty plan's automatic approval is verified by planning again, not by a key: a plan that only
claims to be empty (an XCom, a replayed result) approves nothing."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from fleet import approval
from fleet.bundle import Bundle
from fleet.stages import prod as prod_stage
from fleet_airflow.hooks import context_from_settings

from tests.support.bundles import fleet_repo
from tests.support.pipeline import RUN_ID, source_outputs, task_function


@pytest.fixture(scope="module")
def dag(airflow_db):
    from tests.support.dags import parse_dag

    return parse_dag("account_fleet_pipeline")


def test_a_plan_that_only_claims_to_be_empty_is_not_approved_automatically(fleet_env, fresh_fleet, dag, tmp_path):
    settings, bundle = source_outputs(fresh_fleet, fleet_repo(tmp_path))
    pctx = context_from_settings("aws_default", settings)
    opened = Bundle.from_dict(bundle).open(pctx)
    real = prod_stage.plan(pctx, opened, run_id=RUN_ID)
    assert not real["empty"]  # a fresh organization: every prod account changes
    forged = {**real, "empty": True, "auto_approve": True}
    with pytest.raises(prod_stage.NotEmpty, match="not empty when recomputed"):
        prod_stage.record_automatic_approval(pctx, opened, RUN_ID, forged)
    with pytest.raises(AirflowFailException, match="no automatic approval"):
        task_function(dag, "prod.auto_approve")(settings, bundle, forged, run_id=RUN_ID)
    store = approval.open_store(pctx, opened.config.approval, opened.bucket)
    assert store.list(approval.decisions_prefix(RUN_ID)) == []  # no record: nothing says it was approved
