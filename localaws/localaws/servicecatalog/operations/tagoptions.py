"""TagOptions: administrator-defined key/value pairs attached to portfolios and products."""

from __future__ import annotations

from typing import Any

from localaws.request import Caller

from ..exceptions import (
    DuplicateResourceException,
    InvalidParametersException,
    InvalidStateException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from ..models import Catalog, TagOption, new_id
from ..registry import operation, paginate, required


def _own(catalog: Catalog, caller: Caller, tag_option_id: str) -> TagOption:
    option = catalog.tag_options.get(tag_option_id)
    if option is None or option.account != caller.account or option.region != caller.region:
        raise ResourceNotFoundException(f"TagOption {tag_option_id} not found.")
    return option


@operation("CreateTagOption")
def create_tag_option(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "Key", "Value")
    for option in catalog.tag_options.values():
        if (option.account, option.region, option.key, option.value) == (
            caller.account, caller.region, params["Key"], params["Value"]
        ):
            raise DuplicateResourceException(f"TagOption {params['Key']}={params['Value']} already exists.")
    option = TagOption(id=new_id("tag", 26), account=caller.account, region=caller.region, key=params["Key"], value=params["Value"])
    catalog.tag_options[option.id] = option
    return {"TagOptionDetail": option.detail()}


@operation("DescribeTagOption")
def describe_tag_option(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "Id")
    return {"TagOptionDetail": _own(catalog, caller, params["Id"]).detail()}


@operation("ListTagOptions")
def list_tag_options(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    filters = params.get("Filters") or {}
    options = [
        o.detail()
        for o in catalog.tag_options.values()
        if o.account == caller.account
        and o.region == caller.region
        and (filters.get("Key") is None or o.key == filters["Key"])
        and (filters.get("Value") is None or o.value == filters["Value"])
        and (filters.get("Active") is None or o.active == filters["Active"])
    ]
    # The ListTagOptions output names its continuation token PageToken, not NextPageToken.
    return paginate(options, params, "TagOptionDetails", next_key="PageToken")


@operation("UpdateTagOption")
def update_tag_option(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "Id")
    option = _own(catalog, caller, params["Id"])
    if params.get("Value") is not None:
        option.value = params["Value"]
    if params.get("Active") is not None:
        option.active = bool(params["Active"])
    return {"TagOptionDetail": option.detail()}


@operation("DeleteTagOption")
def delete_tag_option(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "Id")
    option = _own(catalog, caller, params["Id"])
    if any(option.id in ids for ids in catalog.tag_option_links.values()):
        raise ResourceInUseException(f"TagOption {option.id} is associated with resources.")
    del catalog.tag_options[option.id]
    return {}


@operation("AssociateTagOptionWithResource")
def associate_tag_option(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """ResourceId is a portfolio or product id of the caller's account."""
    required(params, "ResourceId", "TagOptionId")
    option = _own(catalog, caller, params["TagOptionId"])
    resource_id = params["ResourceId"]
    if resource_id.startswith("port-"):
        catalog.own_portfolio(caller, resource_id)
    elif resource_id.startswith("prod-"):
        catalog.own_product(caller, resource_id)
    else:
        raise InvalidParametersException(f"Invalid ResourceId {resource_id}.")
    if not option.active:
        raise InvalidStateException(f"TagOption {option.id} is not active.")
    links = catalog.tag_option_links.setdefault(resource_id, [])
    if option.id in links:
        raise DuplicateResourceException(f"TagOption {option.id} is already associated with {resource_id}.")
    links.append(option.id)
    return {}


@operation("DisassociateTagOptionFromResource")
def disassociate_tag_option(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "ResourceId", "TagOptionId")
    _own(catalog, caller, params["TagOptionId"])
    links = catalog.tag_option_links.get(params["ResourceId"], [])
    if params["TagOptionId"] not in links:
        raise ResourceNotFoundException(
            f"TagOption {params['TagOptionId']} is not associated with {params['ResourceId']}."
        )
    links.remove(params["TagOptionId"])
    return {}
