"""The Build gates: secrets, lint, policy, iam, unit -> a list of Finding.

Plain Python, no Airflow: the Build stage, `fleet check` and pre-commit all call run_gates.
"""

from .findings import GATES, Finding, GateReport
from .runner import GateConfigError, run_gates

__all__ = ["GATES", "Finding", "GateReport", "GateConfigError", "run_gates"]
