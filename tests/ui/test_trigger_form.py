"""Every DAG triggers from its UI form with its defaults: what the form needs from each Param.

The Airflow 3 trigger form marks a field required unless its schema type includes "null", and an
empty string or list does not count as a value there; so a Param whose default is empty must be
nullable. Checked on the serialized DAGs, which is what the API server hands the form.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_IDS = ("account_fleet_pipeline", "account_vending", "fleet_drift")


@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(str(REPO / "dags"))
    assert bag.import_errors == {}
    return {d: DagSerialization.from_dict(DagSerialization.to_dict(bag.dags[d])) for d in DAG_IDS}


def _types(schema: dict) -> list[str]:
    t = schema.get("type")
    return t if isinstance(t, list) else [t]


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_the_form_can_be_submitted_with_every_default(dags, dag_id):
    params = dags[dag_id].params
    blocked = []
    for name in params:
        param = params.get_param(name)
        empty = param.value is None or param.value == "" or param.value == []
        if empty and "null" not in _types(param.schema):
            blocked.append(f"{name} (default {param.value!r}, type {param.schema.get('type')})")
    assert not blocked, f"{dag_id}: the trigger form would mark these required: {', '.join(blocked)}"
    params.validate()  # the defaults themselves are valid values


def test_the_pipeline_params_are_optional_where_empty_means_default(dags):
    params = dags["account_fleet_pipeline"].params
    for name in ("source_ref", "targets", "approval_ui"):
        assert params.get_param(name).value is None and "null" in _types(params.get_param(name).schema), name


def test_approval_ui_is_a_dropdown_whose_empty_state_says_what_it_means(dags):
    schema = dags["account_fleet_pipeline"].params.get_param("approval_ui").schema
    assert schema["enum"] == [None, True, False]
    assert "fleet config" in schema["values_display"]["null"]


def test_vending_accounts_param_is_nullable_and_names_where_ous_come_from(dags):
    param = dags["account_vending"].params.get_param("accounts")
    assert param.value is None and "null" in _types(param.schema)
    assert "ous in fleet.yaml" in param.description


def test_vendings_mapped_tasks_are_named_by_account(dags):
    dag = dags["account_vending"]
    for task_id in ("vend.request_account", "vend.set_up"):
        assert dag.get_task(task_id).map_index_template == "{{ account_name }}", task_id


def test_the_dag_list_shows_the_pipelines_cron_and_its_asset(dags):
    timetable = dags["account_fleet_pipeline"].timetable
    assert "0 6 * * 1-5" in timetable.summary and "Asset" in timetable.summary
    assert "Triggered by assets or" in timetable.description


def test_an_unknown_ou_in_the_accounts_param_names_the_valid_ous():
    from fleet.config import ConfigError, account_requests, load_config

    fleet = load_config(REPO / "include" / "fleet.yaml")
    with pytest.raises(ConfigError) as err:
        account_requests([{"name": "new-one", "email": "new-one@example.com", "ou": "Nowhere"}], fleet)
    assert "accounts[0].ou" in str(err.value) and "Prod" in str(err.value) and "'Nowhere'" in str(err.value)
