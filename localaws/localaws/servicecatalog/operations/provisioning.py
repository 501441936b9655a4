"""End-user provisioning: ProvisionProduct, UpdateProvisionedProduct, TerminateProvisionedProduct
and the read APIs around provisioned products and records.

Each mutating call has three steps: (1) under the catalog lock, validate, reserve the provisioned
product (status UNDER_CHANGE) and open a record (IN_PROGRESS); (2) without the lock, run the
stack operation in moto; (3) under the lock, close the record (SUCCEEDED or FAILED) and settle the
provisioned product (AVAILABLE; ERROR after a failed launch; TAINTED after a failed update, the
API reference's "stable state ... not exactly what was requested").  Because moto stacks
complete synchronously the response already carries the final record status.
"""

from __future__ import annotations

import re
from typing import Any

from localaws.request import Caller

from .. import account_factory, stacks, templates
from ..access import launch_paths
from ..exceptions import DuplicateResourceException, InvalidParametersException, ResourceNotFoundException
from ..models import Catalog, Portfolio, Product, ProvisionedProduct, ProvisioningArtifact, Record, new_id, now
from ..registry import operation, paginate, required, tags_from
from .constraints import launch_role_arn, visible_constraints
from .products import artifact_of, end_user_product

_PP_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$")


# -- shared helpers ---------------------------------------------------------------------------


def _choose_path(paths: list[Portfolio], params: dict[str, Any], current: str | None = None) -> Portfolio:
    """PathId or PathName picks the launch path; with neither, the product must have exactly one
    (or, on update, the one it was launched through)."""
    if params.get("PathId"):
        chosen = [p for p in paths if p.launch_path_id == params["PathId"]]
    elif params.get("PathName"):
        chosen = [p for p in paths if p.display_name == params["PathName"]]
    elif current and any(p.launch_path_id == current for p in paths):
        chosen = [p for p in paths if p.launch_path_id == current]
    elif len(paths) > 1:
        raise InvalidParametersException("The product has more than one launch path: specify PathId.")
    else:
        chosen = paths
    if not chosen:
        raise ResourceNotFoundException(f"Launch path {params.get('PathId') or params.get('PathName')} not found.")
    return chosen[0]


def _choose_artifact(product: Product, params: dict[str, Any], current: str | None = None) -> ProvisioningArtifact:
    artifact_id, name = params.get("ProvisioningArtifactId"), params.get("ProvisioningArtifactName")
    if not artifact_id and not name:
        if current is None:
            raise InvalidParametersException("ProvisioningArtifactId or ProvisioningArtifactName is required.")
        artifact_id = current
    artifact = artifact_of(product, artifact_id, name)
    if not artifact.active:
        raise InvalidParametersException(f"Provisioning artifact {artifact.id} is not active.")
    # DEPRECATED "disallows users from provisioning new products with the deprecated version"
    # (API reference); a product already on that version may still be updated in place.
    if artifact.guidance == "DEPRECATED" and artifact.id != current:
        raise InvalidParametersException(f"Provisioning artifact {artifact.id} is deprecated.")
    return artifact


def _own_pp(catalog: Catalog, caller: Caller, pp_id: str | None, name: str | None) -> ProvisionedProduct:
    if not pp_id and not name:
        raise InvalidParametersException("ProvisionedProductId or ProvisionedProductName is required.")
    for pp in catalog.provisioned.values():
        if pp.account == caller.account and pp.region == caller.region and (
            (pp_id and pp.id == pp_id) or (not pp_id and pp.name == name)
        ):
            return pp
    raise ResourceNotFoundException(f"Provisioned product {pp_id or name} not found.")


def _not_busy(pp: ProvisionedProduct) -> None:
    if pp.status == "UNDER_CHANGE":
        raise InvalidParametersException(f"Provisioned product {pp.id} is under change.")


def _open_record(catalog: Catalog, caller: Caller, pp: ProvisionedProduct, record_type: str) -> Record:
    record = Record(
        id=new_id("rec"),
        account=caller.account,
        region=caller.region,
        record_type=record_type,
        provisioned_product_id=pp.id,
        provisioned_product_name=pp.name,
        product_id=pp.product_id,
        artifact_id=pp.artifact_id,
        path_id=pp.path_id,
        user_arn=caller.arn,
        status="IN_PROGRESS",
        tags=dict(pp.tags),
        launch_role_arn=pp.launch_role_arn,
        product_type=pp.type,
    )
    catalog.records[record.id] = record
    pp.status = "UNDER_CHANGE"
    pp.last_record_id = record.id
    return record


def _close(record: Record, error: stacks.StackError | None, outputs: list[dict[str, str]] | None = None) -> None:
    record.updated = now()
    if error is None:
        record.status = "SUCCEEDED"
        record.outputs = outputs or []
    else:
        record.status = "FAILED"
        record.errors = [{"Code": error.code, "Description": error.message}]


def _replay(catalog: Catalog, caller: Caller, operation_name: str, token: str) -> dict[str, Any] | None:
    record_id = catalog.idempotency.get((caller.account, caller.region, operation_name, token))
    return {"RecordDetail": catalog.records[record_id].detail()} if record_id else None


def _service_tags(caller: Caller, pp: ProvisionedProduct, product: Product, portfolio: Portfolio) -> dict[str, str]:
    """The aws:servicecatalog:* tags Service Catalog puts on every stack it launches."""
    return {
        "aws:servicecatalog:portfolioArn": portfolio.arn,
        "aws:servicecatalog:productArn": product.arn,
        "aws:servicecatalog:provisionedProductArn": pp.arn,
        "aws:servicecatalog:provisioningArtifactIdentifier": pp.artifact_id,
        "aws:servicecatalog:provisioningPrincipalArn": caller.arn,
    }


# -- ProvisionProduct ---------------------------------------------------------------------------


@operation("ProvisionProduct", locked=False)
def provision_product(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "ProvisionedProductName", "ProvisionToken")
    token = params["ProvisionToken"]
    with catalog.lock:
        replay = _replay(catalog, caller, "ProvisionProduct", token)
        if replay:
            return replay
        if not params.get("ProductId") and not params.get("ProductName"):
            raise InvalidParametersException("ProductId or ProductName is required.")
        # A product the caller may not launch (no accepted share, no matching principal) is
        # simply not found, as in AWS.
        product = end_user_product(catalog, caller, params.get("ProductId"), params.get("ProductName"))
        artifact = _choose_artifact(product, params)
        portfolio = _choose_path(launch_paths(catalog, caller, product), params)
        name = params["ProvisionedProductName"]
        if not _PP_NAME.match(name):
            raise InvalidParametersException(f"Invalid ProvisionedProductName {name}.")
        if any(p.account == caller.account and p.region == caller.region and p.name == name for p in catalog.provisioned.values()):
            raise DuplicateResourceException(f"A provisioned product named {name} already exists.")
        values = {p["Key"]: p["Value"] for p in params.get("ProvisioningParameters") or [] if "Key" in p}
        # Control Tower's Account Factory vends an account, not a stack (account_factory.py).
        factory = account_factory.is_product(catalog, product.id)
        if factory:
            account_factory.check_parameters(values)
        pp = ProvisionedProduct(
            id=new_id("pp"),
            account=caller.account,
            region=caller.region,
            partition=caller.partition,
            name=name,
            product_id=product.id,
            product_name=product.name,
            artifact_id=artifact.id,
            artifact_name=artifact.name,
            path_id=portfolio.launch_path_id,
            portfolio_id=portfolio.id,
            user_arn=caller.arn,
            idempotency_token=token,
            parameters=values,
            tags=tags_from(params.get("Tags")),
            launch_role_arn=launch_role_arn(catalog, caller, portfolio.id, product.id),
            type=account_factory.PROVISIONED_PRODUCT_TYPE if factory else "CFN_STACK",
        )
        catalog.provisioned[pp.id] = pp
        record = _open_record(catalog, caller, pp, "PROVISION_PRODUCT")
        pp.last_provisioning_record_id = record.id
        catalog.idempotency[(caller.account, caller.region, "ProvisionProduct", token)] = record.id
        stack_tags = {**pp.tags, **_service_tags(caller, pp, product, portfolio)}
        template = artifact.template
        if factory:
            record.status = "CREATED"  # as Control Tower answers; reads move it on

    if factory:
        return account_factory.launch(catalog, caller, pp, record, values)

    error, outputs = None, None
    try:
        pp_stack_id, outputs = stacks.create_stack(
            caller.account, caller.region, pp.stack_name, template, values, stack_tags,
            pp.launch_role_arn, params.get("NotificationArns"),
        )
    except stacks.StackError as exc:
        error, pp_stack_id = exc, None

    with catalog.lock:
        _close(record, error, outputs)
        pp.stack_id = pp_stack_id
        if error is None:
            pp.status = "AVAILABLE"
            pp.last_successful_record_id = record.id
        else:
            pp.status, pp.status_message = "ERROR", error.message
        return {"RecordDetail": record.detail()}


# -- UpdateProvisionedProduct ---------------------------------------------------------------------


@operation("UpdateProvisionedProduct", locked=False)
def update_provisioned_product(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "UpdateToken")
    token = params["UpdateToken"]
    with catalog.lock:
        replay = _replay(catalog, caller, "UpdateProvisionedProduct", token)
        if replay:
            return replay
        pp = _own_pp(catalog, caller, params.get("ProvisionedProductId"), params.get("ProvisionedProductName"))
        _not_busy(pp)
        if pp.type == account_factory.PROVISIONED_PRODUCT_TYPE:
            raise InvalidParametersException(
                f"Provisioned product {pp.id} is an Account Factory account: updating it is not emulated by local AWS.")
        if pp.stack_id is None:
            raise InvalidParametersException(f"Provisioned product {pp.id} has no stack to update; terminate it.")
        product = end_user_product(catalog, caller, params.get("ProductId") or (None if params.get("ProductName") else pp.product_id), params.get("ProductName"))
        same_product = product.id == pp.product_id
        artifact = _choose_artifact(product, params, current=pp.artifact_id if same_product else None)
        portfolio = _choose_path(launch_paths(catalog, caller, product), params, current=pp.path_id)
        values = dict(pp.parameters)
        for item in params.get("ProvisioningParameters") or []:
            if item.get("UsePreviousValue"):
                continue
            if "Key" in item and "Value" in item:
                values[item["Key"]] = item["Value"]
        tags = tags_from(params.get("Tags")) if params.get("Tags") is not None else dict(pp.tags)
        role_arn = launch_role_arn(catalog, caller, portfolio.id, product.id)
        record = _open_record(catalog, caller, pp, "UPDATE_PROVISIONED_PRODUCT")
        record.product_id, record.artifact_id, record.path_id = product.id, artifact.id, portfolio.launch_path_id
        record.tags, record.launch_role_arn = dict(tags), role_arn
        catalog.idempotency[(caller.account, caller.region, "UpdateProvisionedProduct", token)] = record.id
        stack_tags = {**tags, **_service_tags(caller, pp, product, portfolio)}
        stack_tags["aws:servicecatalog:provisioningArtifactIdentifier"] = artifact.id
        template, stack_id = artifact.template, pp.stack_id

    error, outputs = None, None
    try:
        outputs = stacks.update_stack(caller.account, caller.region, stack_id, template, values, stack_tags, role_arn)
    except stacks.StackError as exc:
        error = exc

    with catalog.lock:
        _close(record, error, outputs)
        pp.last_provisioning_record_id = record.id
        if error is None:
            pp.status, pp.status_message = "AVAILABLE", None
            pp.product_id, pp.product_name = product.id, product.name
            pp.artifact_id, pp.artifact_name = artifact.id, artifact.name
            pp.path_id, pp.portfolio_id = portfolio.launch_path_id, portfolio.id
            pp.parameters, pp.tags, pp.launch_role_arn = values, tags, role_arn
            pp.last_successful_record_id = record.id
        else:
            pp.status, pp.status_message = "TAINTED", error.message
        return {"RecordDetail": record.detail()}


# -- TerminateProvisionedProduct ------------------------------------------------------------------


@operation("TerminateProvisionedProduct", locked=False)
def terminate_provisioned_product(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """Deletes the stack (unless RetainPhysicalResources) and then the provisioned product; the
    TERMINATE_PROVISIONED_PRODUCT record stays readable through DescribeRecord."""
    required(params, "TerminateToken")
    token = params["TerminateToken"]
    with catalog.lock:
        replay = _replay(catalog, caller, "TerminateProvisionedProduct", token)
        if replay:
            return replay
        pp = _own_pp(catalog, caller, params.get("ProvisionedProductId"), params.get("ProvisionedProductName"))
        _not_busy(pp)
        record = _open_record(catalog, caller, pp, "TERMINATE_PROVISIONED_PRODUCT")
        catalog.idempotency[(caller.account, caller.region, "TerminateProvisionedProduct", token)] = record.id
        stack_id = pp.stack_id

    error = None
    if stack_id and not params.get("RetainPhysicalResources"):
        try:
            stacks.delete_stack(caller.account, caller.region, stack_id)
        except stacks.StackError as exc:
            error = exc

    with catalog.lock:
        if error is not None and not params.get("IgnoreErrors"):
            _close(record, error)
            pp.status, pp.status_message = "ERROR", error.message
        else:
            _close(record, None)
            catalog.provisioned.pop(pp.id, None)
        return {"RecordDetail": record.detail()}


# -- reads ----------------------------------------------------------------------------------------


@operation("DescribeRecord")
def describe_record(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "Id")
    record = catalog.records.get(params["Id"])
    if record is None or record.account != caller.account or record.region != caller.region:
        raise ResourceNotFoundException(f"Record {params['Id']} not found.")
    out = paginate(record.outputs, params, "RecordOutputs")
    out["RecordDetail"] = record.detail()
    return out


def _access_filter(caller: Caller, params: dict[str, Any], user_arn: str) -> bool:
    """AccessLevelFilter: Account (the default), Role or User; the only value is "self"."""
    level = (params.get("AccessLevelFilter") or {}).get("Key") or "Account"
    if level == "Account":
        return True
    if level == "Role":
        role = caller.role_name
        return role is not None and f":assumed-role/{role}/" in user_arn
    if level == "User":
        return user_arn == caller.arn
    raise InvalidParametersException(f"Invalid AccessLevelFilter key {level}.")


def _visible_pps(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> list[ProvisionedProduct]:
    return sorted(
        (
            pp
            for pp in catalog.provisioned.values()
            if pp.account == caller.account and pp.region == caller.region and _access_filter(caller, params, pp.user_arn)
        ),
        key=lambda pp: pp.created,
    )


@operation("DescribeProvisionedProduct")
def describe_provisioned_product(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    pp = _own_pp(catalog, caller, params.get("Id"), params.get("Name"))
    return {"ProvisionedProductDetail": pp.detail(), "CloudWatchDashboards": []}


def _matches_query(attributes: dict[str, Any], query: str) -> bool:
    """SearchQuery terms: ``field:value`` on the documented fields, or free text on name/id."""
    field, sep, value = query.partition(":")
    if sep and field:
        if field == "tags":
            return any(value in (f"{t['Key']}:{t['Value']}", t["Key"], t["Value"]) for t in attributes.get("Tags", []))
        key = {"arn": "Arn", "id": "Id", "name": "Name", "type": "Type", "status": "Status"}.get(field, field[:1].upper() + field[1:])
        return str(attributes.get(key, "")) == value
    return query.lower() in attributes["Name"].lower() or query == attributes["Id"]


@operation("SearchProvisionedProducts")
def search_provisioned_products(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    items = [pp.attributes() for pp in _visible_pps(catalog, caller, params)]
    for query in (params.get("Filters") or {}).get("SearchQuery", []):
        items = [a for a in items if _matches_query(a, query)]
    sort_by = params.get("SortBy")
    if sort_by:
        key = {"name": "Name", "arn": "Arn", "id": "Id", "lastRecordId": "LastRecordId", "createdTime": "CreatedTime"}.get(sort_by)
        if key is None:
            raise InvalidParametersException(f"Invalid SortBy {sort_by}.")
        items.sort(key=lambda a: a.get(key) or "", reverse=params.get("SortOrder") == "DESCENDING")
    out = paginate(items, params, "ProvisionedProducts")
    out["TotalResultsCount"] = len(items)
    return out


@operation("ScanProvisionedProducts")
def scan_provisioned_products(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    return paginate([pp.detail() for pp in _visible_pps(catalog, caller, params)], params, "ProvisionedProducts")


@operation("GetProvisionedProductOutputs")
def get_provisioned_product_outputs(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    pp = _own_pp(catalog, caller, params.get("ProvisionedProductId"), params.get("ProvisionedProductName"))
    record = catalog.records.get(pp.last_successful_record_id or "")
    outputs = list(record.outputs) if record else []
    keys = params.get("OutputKeys")
    if keys:
        outputs = [o for o in outputs if o["OutputKey"] in keys]
    return paginate(outputs, params, "Outputs")


@operation("ListRecordHistory")
def list_record_history(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """SearchFilter keys: ``product`` (product id) and ``provisionedproduct`` (its id)."""
    search = params.get("SearchFilter") or {}
    records = [
        r
        for r in sorted(catalog.records.values(), key=lambda r: r.created, reverse=True)
        if r.account == caller.account and r.region == caller.region and _access_filter(caller, params, r.user_arn)
    ]
    if search.get("Key") == "product":
        records = [r for r in records if r.product_id == search.get("Value")]
    elif search.get("Key") == "provisionedproduct":
        records = [r for r in records if r.provisioned_product_id == search.get("Value")]
    elif search.get("Key"):
        raise InvalidParametersException(f"Invalid SearchFilter key {search['Key']}.")
    return paginate([r.detail() for r in records], params, "RecordDetails")


@operation("ListLaunchPaths")
def list_launch_paths(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """One launch path per portfolio through which the caller may launch the product."""
    required(params, "ProductId")
    product = end_user_product(catalog, caller, params["ProductId"])
    summaries = [
        {
            "Id": portfolio.launch_path_id,
            "ConstraintSummaries": [
                {"Type": c.type, **({"Description": c.description} if c.description else {})}
                for c in visible_constraints(catalog, caller, portfolio.id, product.id)
            ],
            "Tags": [{"Key": k, "Value": v} for k, v in portfolio.tags.items()],
            "Name": portfolio.display_name,
        }
        for portfolio in launch_paths(catalog, caller, product)
    ]
    return paginate(summaries, params, "LaunchPathSummaries")


@operation("DescribeProvisioningParameters")
def describe_provisioning_parameters(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    product = end_user_product(catalog, caller, params.get("ProductId"), params.get("ProductName"))
    artifact = _choose_artifact(product, params)
    portfolio = _choose_path(launch_paths(catalog, caller, product), params)
    option_ids = catalog.tag_option_links.get(portfolio.id, []) + catalog.tag_option_links.get(product.id, [])
    tag_options: dict[str, list[str]] = {}
    for option_id in option_ids:
        option = catalog.tag_options.get(option_id)
        if option and option.active:
            tag_options.setdefault(option.key, []).append(option.value)
    outputs = templates.outputs(artifact.template)
    return {
        "ProvisioningArtifactParameters": templates.parameters(artifact.template),
        "ConstraintSummaries": [
            {"Type": c.type, **({"Description": c.description} if c.description else {})}
            for c in visible_constraints(catalog, caller, portfolio.id, product.id)
        ],
        "UsageInstructions": [],
        "TagOptions": [{"Key": k, "Values": v} for k, v in tag_options.items()],
        "ProvisioningArtifactPreferences": {},
        "ProvisioningArtifactOutputs": outputs,
        "ProvisioningArtifactOutputKeys": outputs,
    }
