"""The pipeline's stages as plain functions, one module per stage, in the bundle's order:

``source`` (preflight, snapshot) -> ``build`` (gates) -> ``environment`` (beta, gamma) -> ``prod``
(plan, approval record, rollout) -> ``catalog`` (publish, smoke test).

Each takes what the stage before it produced: the ``Bundle`` from the source stage, opened once per
process into an ``OpenBundle``, and the small JSON-ready results (deployments, the plan) that travel
between tasks. The DAG, the tests and the CLI call the same functions.
"""
