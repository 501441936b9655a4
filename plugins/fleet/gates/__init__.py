"""The Build gates: secrets, lint, policy, iam, unit -> a list of Finding.

Plain Python, no Airflow: the Build stage, `fleet check` and pre-commit all call run_gates.
Every finding's rule id is `<gate>:<name>`; `python -m fleet.gates.rules` lists them all.
"""

from .findings import GATES, Finding, GateReport
from .runner import GateConfigError, run_gates

__all__ = ["GATES", "Finding", "GateReport", "GateConfigError", "run_gates"]
