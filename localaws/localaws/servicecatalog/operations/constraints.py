"""Constraints (API reference: CreateConstraint, "Parameters" per constraint type).

LAUNCH: ``{"RoleArn": ...}`` or ``{"LocalRoleName": ...}`` (exactly one); the role provisioning
uses instead of the end user's credentials, and only one per product in a portfolio.
NOTIFICATION: ``{"NotificationArns": [...]}``.  TEMPLATE: ``{"Rules": {...}}``.
RESOURCE_UPDATE: ``{"Version": "2.0", "Properties": {"TagUpdateOnProvisionedProduct": ...}}``.
STACKSET: ``{"Version": "String", "Properties": {"AccountList": [...], "RegionList": [...], ...}}``.
"""

from __future__ import annotations

import json
from typing import Any

from localaws.request import Caller

from ..access import account_can_use
from ..exceptions import DuplicateResourceException, InvalidParametersException, ResourceNotFoundException
from ..models import Catalog, Constraint, new_id
from ..registry import operation, paginate, required

TYPES = {"LAUNCH", "NOTIFICATION", "RESOURCE_UPDATE", "STACKSET", "TEMPLATE"}


def _validate(kind: str, raw: str) -> dict[str, Any]:
    try:
        parameters = json.loads(raw)
    except ValueError as exc:
        raise InvalidParametersException(f"Constraint Parameters must be JSON: {exc}") from exc
    if not isinstance(parameters, dict):
        raise InvalidParametersException("Constraint Parameters must be a JSON object.")
    if kind == "LAUNCH":
        if ("RoleArn" in parameters) == ("LocalRoleName" in parameters):
            raise InvalidParametersException("A LAUNCH constraint needs exactly one of RoleArn or LocalRoleName.")
        role_arn = parameters.get("RoleArn")
        if role_arn is not None and (not isinstance(role_arn, str) or ":role/" not in role_arn):
            raise InvalidParametersException(f"Invalid RoleArn {role_arn}.")
    elif kind == "NOTIFICATION":
        arns = parameters.get("NotificationArns")
        if not isinstance(arns, list) or not arns:
            raise InvalidParametersException("A NOTIFICATION constraint needs NotificationArns.")
    elif kind == "TEMPLATE":
        if not isinstance(parameters.get("Rules"), dict):
            raise InvalidParametersException("A TEMPLATE constraint needs Rules.")
    return parameters


def visible_constraints(catalog: Catalog, caller: Caller, portfolio_id: str, product_id: str | None = None) -> list[Constraint]:
    """The portfolio owner's constraints apply everywhere it is shared; recipients see their
    own local ones as well."""
    portfolio = catalog.portfolios.get(portfolio_id)
    owners = {caller.account} | ({portfolio.account} if portfolio else set())
    return [c for c in catalog.constraints_for(portfolio_id, product_id) if c.account in owners]


def launch_role_arn(catalog: Catalog, caller: Caller, portfolio_id: str, product_id: str) -> str | None:
    for constraint in visible_constraints(catalog, caller, portfolio_id, product_id):
        if constraint.type == "LAUNCH":
            parameters = json.loads(constraint.parameters)
            if "RoleArn" in parameters:
                return parameters["RoleArn"]
            # LocalRoleName resolves in the account that provisions (Admin Guide, launch constraints).
            return f"arn:{caller.partition}:iam::{caller.account}:role/{parameters['LocalRoleName']}"
    return None


@operation("CreateConstraint")
def create_constraint(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "PortfolioId", "ProductId", "Parameters", "Type", "IdempotencyToken")
    portfolio = catalog.regional_portfolio(caller, params["PortfolioId"])
    if not account_can_use(catalog, portfolio, caller):
        raise ResourceNotFoundException(f"Portfolio {params['PortfolioId']} not found.")
    if params["ProductId"] not in catalog.products:
        raise ResourceNotFoundException(f"Product {params['ProductId']} not found.")
    if params["ProductId"] not in portfolio.product_ids:
        raise InvalidParametersException(f"Product {params['ProductId']} is not associated with {portfolio.id}.")
    kind = params["Type"]
    if kind not in TYPES:
        raise InvalidParametersException(f"Invalid constraint Type {kind}.")
    _validate(kind, params["Parameters"])

    def make() -> str:
        if kind in ("LAUNCH", "STACKSET"):
            for other in catalog.constraints_for(portfolio.id, params["ProductId"]):
                if other.type in ("LAUNCH", "STACKSET"):
                    raise DuplicateResourceException(
                        f"Product {params['ProductId']} already has a {other.type} constraint "
                        f"({other.id}) in portfolio {portfolio.id}."
                    )
        constraint = Constraint(
            id=new_id("cons"),
            account=caller.account,
            region=caller.region,
            type=kind,
            portfolio_id=portfolio.id,
            product_id=params["ProductId"],
            parameters=params["Parameters"],
            description=params.get("Description"),
        )
        catalog.constraints[constraint.id] = constraint
        return constraint.id

    constraint = catalog.constraints[catalog.once(caller, "CreateConstraint", params["IdempotencyToken"], make)]
    return {"ConstraintDetail": constraint.detail(), "ConstraintParameters": constraint.parameters, "Status": "AVAILABLE"}


def _visible(catalog: Catalog, caller: Caller, constraint_id: str) -> Constraint:
    constraint = catalog.constraints.get(constraint_id)
    if constraint is None or constraint.region != caller.region or constraint not in visible_constraints(
        catalog, caller, constraint.portfolio_id
    ):
        raise ResourceNotFoundException(f"Constraint {constraint_id} not found.")
    portfolio = catalog.portfolios.get(constraint.portfolio_id)
    if portfolio is None or not account_can_use(catalog, portfolio, caller):
        raise ResourceNotFoundException(f"Constraint {constraint_id} not found.")
    return constraint


@operation("DescribeConstraint")
def describe_constraint(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "Id")
    constraint = _visible(catalog, caller, params["Id"])
    return {"ConstraintDetail": constraint.detail(), "ConstraintParameters": constraint.parameters, "Status": "AVAILABLE"}


@operation("ListConstraintsForPortfolio")
def list_constraints(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "PortfolioId")
    portfolio = catalog.regional_portfolio(caller, params["PortfolioId"])
    if not account_can_use(catalog, portfolio, caller):
        raise ResourceNotFoundException(f"Portfolio {params['PortfolioId']} not found.")
    constraints = [c.detail() for c in visible_constraints(catalog, caller, portfolio.id, params.get("ProductId"))]
    return paginate(constraints, params, "ConstraintDetails")


@operation("DeleteConstraint")
def delete_constraint(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "Id")
    constraint = _visible(catalog, caller, params["Id"])
    if constraint.account != caller.account:
        raise ResourceNotFoundException(f"Constraint {params['Id']} not found.")
    del catalog.constraints[constraint.id]
    return {}
