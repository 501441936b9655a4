"""Products, their versions (provisioning artifacts) and portfolio associations."""

from __future__ import annotations

from typing import Any

from localaws.request import Caller

from .. import templates
from ..access import account_can_use, imported_portfolios, launch_paths, launchable_products
from ..exceptions import InvalidParametersException, ResourceInUseException, ResourceNotFoundException
from ..models import Catalog, Product, ProvisioningArtifact, new_id, tag_list
from ..registry import operation, paginate, required, tags_from

PRODUCT_TYPES = {"CLOUD_FORMATION_TEMPLATE", "MARKETPLACE", "TERRAFORM_OPEN_SOURCE", "TERRAFORM_CLOUD", "EXTERNAL"}


def new_artifact(caller: Caller, properties: dict[str, Any], default_name: str | None = None) -> ProvisioningArtifact:
    """Read and (unless DisableTemplateValidation) validate the template now: AWS copies it
    into the version at creation time."""
    body, url = templates.template_from_info(properties.get("Info"), caller)
    if not properties.get("DisableTemplateValidation"):
        templates.parse(body)
    return ProvisioningArtifact(
        id=new_id("pa"),
        name=properties.get("Name", default_name),
        description=properties.get("Description"),
        type=properties.get("Type") or "CLOUD_FORMATION_TEMPLATE",
        template=body,
        template_url=url,
    )


def admin_product(catalog: Catalog, caller: Caller, product_id: str | None, name: str | None = None) -> Product:
    """A product the caller administers: owned, or in a portfolio the account imported."""
    candidates = [p for p in catalog.products.values() if p.account == caller.account and p.region == caller.region]
    for portfolio in imported_portfolios(catalog, caller):
        candidates += [catalog.products[i] for i in portfolio.product_ids if i in catalog.products]
    for product in candidates:
        if (product_id and product.id == product_id) or (not product_id and name and product.name == name):
            return product
    raise ResourceNotFoundException(f"Product {product_id or name} not found.")


def end_user_product(catalog: Catalog, caller: Caller, product_id: str | None, name: str | None = None) -> Product:
    """A product the caller may launch (the end-user APIs see nothing else)."""
    for pid in launchable_products(catalog, caller):
        product = catalog.products.get(pid)
        if product and ((product_id and product.id == product_id) or (not product_id and name and product.name == name)):
            return product
    raise ResourceNotFoundException(f"Product {product_id or name} not found.")


def artifact_of(product: Product, artifact_id: str | None, name: str | None = None) -> ProvisioningArtifact:
    artifact = product.artifact(artifact_id, name)
    if artifact is None:
        raise ResourceNotFoundException(f"Provisioning artifact {artifact_id or name} not found for {product.id}.")
    return artifact


def _artifact_result(artifact: ProvisioningArtifact) -> dict[str, Any]:
    return {
        "ProvisioningArtifactDetail": artifact.detail(),
        "Info": {"TemplateUrl": artifact.template_url},
        "Status": "AVAILABLE",
    }


@operation("CreateProduct")
def create_product(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "Name", "Owner", "ProductType", "IdempotencyToken")
    if params["ProductType"] not in PRODUCT_TYPES:
        raise InvalidParametersException(f"Invalid ProductType {params['ProductType']}.")
    if not params.get("ProvisioningArtifactParameters"):
        raise InvalidParametersException("ProvisioningArtifactParameters is required.")

    def make() -> str:
        artifact = new_artifact(caller, params["ProvisioningArtifactParameters"])
        product = Product(
            id=new_id("prod"),
            view_id=new_id("prodview"),
            account=caller.account,
            region=caller.region,
            partition=caller.partition,
            name=params["Name"],
            owner=params["Owner"],
            type=params["ProductType"],
            description=params.get("Description"),
            distributor=params.get("Distributor"),
            support_description=params.get("SupportDescription"),
            support_email=params.get("SupportEmail"),
            support_url=params.get("SupportUrl"),
            tags=tags_from(params.get("Tags")),
            artifacts=[artifact],
        )
        catalog.products[product.id] = product
        return product.id

    product = catalog.own_product(caller, catalog.once(caller, "CreateProduct", params["IdempotencyToken"], make))
    return {
        "ProductViewDetail": product.view_detail(),
        "ProvisioningArtifactDetail": product.artifacts[0].detail(),
        "Tags": tag_list(product.tags),
    }


@operation("DescribeProduct")
def describe_product(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """End-user view: only launchable products, only active versions."""
    if not params.get("Id") and not params.get("Name"):
        raise InvalidParametersException("Id or Name is required.")
    product = end_user_product(catalog, caller, params.get("Id"), params.get("Name"))
    paths = launch_paths(catalog, caller, product)
    return {
        "ProductViewSummary": product.view_summary(has_default_path=len(paths) == 1),
        "ProvisioningArtifacts": [a.summary() for a in product.artifacts if a.active],
        "Budgets": [],
        "LaunchPaths": [{"Id": p.launch_path_id, "Name": p.display_name} for p in paths],
    }


@operation("DescribeProductAsAdmin")
def describe_product_as_admin(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    if not params.get("Id") and not params.get("Name"):
        raise InvalidParametersException("Id or Name is required.")
    product = admin_product(catalog, caller, params.get("Id"), params.get("Name"))
    return {
        "ProductViewDetail": product.view_detail(),
        "ProvisioningArtifactSummaries": [a.admin_summary() for a in product.artifacts],
        "Tags": tag_list(product.tags),
        "TagOptions": [
            catalog.tag_options[t].detail() for t in catalog.tag_option_links.get(product.id, []) if t in catalog.tag_options
        ],
        "Budgets": [],
    }


def _filtered(products: list[Product], filters: dict[str, list[str]] | None) -> list[Product]:
    """ProductViewFilters: FullTextSearch matches name, owner, description, distributor."""
    filters = filters or {}
    out = products
    for word in filters.get("FullTextSearch", []):
        word = word.lower()
        out = [
            p
            for p in out
            if any(word in (v or "").lower() for v in (p.name, p.owner, p.description, p.distributor, p.id))
        ]
    for field, attr in (("Owner", "owner"), ("ProductType", "type"), ("SourceProductId", "id")):
        if filters.get(field):
            out = [p for p in out if getattr(p, attr) in filters[field]]
    return out


def _sorted(products: list[Product], params: dict[str, Any]) -> list[Product]:
    keys = {
        "Title": lambda p: p.name.lower(),
        "VersionCount": lambda p: len(p.artifacts),
        "CreationDate": lambda p: p.created,
    }
    key = keys.get(params.get("SortBy") or "CreationDate", keys["CreationDate"])
    return sorted(products, key=key, reverse=params.get("SortOrder") == "DESCENDING")


@operation("SearchProductsAsAdmin")
def search_products_as_admin(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("PortfolioId"):
        portfolio = catalog.regional_portfolio(caller, params["PortfolioId"])
        if not account_can_use(catalog, portfolio, caller):
            raise ResourceNotFoundException(f"Portfolio {params['PortfolioId']} not found.")
        products = [catalog.products[i] for i in portfolio.product_ids if i in catalog.products]
    else:
        products = [p for p in catalog.products.values() if p.account == caller.account and p.region == caller.region]
    products = _sorted(_filtered(products, params.get("Filters")), params)
    return paginate([p.view_detail() for p in products], params, "ProductViewDetails")


@operation("SearchProducts")
def search_products(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """End-user view: products in portfolios the caller may launch from (own or accepted share)."""
    paths = launchable_products(catalog, caller)
    products = [catalog.products[i] for i in paths if i in catalog.products]
    products = _sorted(_filtered(products, params.get("Filters")), params)
    out = paginate(
        [p.view_summary(has_default_path=len(paths[p.id]) == 1) for p in products], params, "ProductViewSummaries"
    )
    out["ProductViewAggregations"] = {}
    return out


@operation("UpdateProduct")
def update_product(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "Id")
    product = catalog.own_product(caller, params["Id"])
    fields = {
        "Name": "name",
        "Owner": "owner",
        "Description": "description",
        "Distributor": "distributor",
        "SupportDescription": "support_description",
        "SupportEmail": "support_email",
        "SupportUrl": "support_url",
    }
    for field, attr in fields.items():
        if params.get(field) is not None:
            setattr(product, attr, params[field])
    for key in params.get("RemoveTags") or []:
        product.tags.pop(key, None)
    product.tags.update(tags_from(params.get("AddTags")))
    return {"ProductViewDetail": product.view_detail(), "Tags": tag_list(product.tags)}


@operation("DeleteProduct")
def delete_product(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """"You cannot delete a product if it was shared with you or is associated with a portfolio." """
    required(params, "Id")
    product = catalog.own_product(caller, params["Id"])
    portfolios = [p.id for p in catalog.portfolios.values() if product.id in p.product_ids]
    if portfolios:
        raise ResourceInUseException(f"Product {product.id} is associated with portfolios {', '.join(portfolios)}.")
    del catalog.products[product.id]
    catalog.tag_option_links.pop(product.id, None)
    return {}


# -- provisioning artifacts -------------------------------------------------------------------


@operation("CreateProvisioningArtifact")
def create_provisioning_artifact(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "ProductId", "Parameters", "IdempotencyToken")
    product = catalog.own_product(caller, params["ProductId"])

    def make() -> str:
        name = params["Parameters"].get("Name")
        if name and product.artifact(name=name):
            raise InvalidParametersException(f"Provisioning artifact name {name} already exists for {product.id}.")
        artifact = new_artifact(caller, params["Parameters"])
        product.artifacts.append(artifact)
        return artifact.id

    artifact_id = catalog.once(caller, "CreateProvisioningArtifact", params["IdempotencyToken"], make)
    return _artifact_result(artifact_of(product, artifact_id))


@operation("ListProvisioningArtifacts")
def list_provisioning_artifacts(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "ProductId")
    product = admin_product(catalog, caller, params["ProductId"])
    return {"ProvisioningArtifactDetails": [a.detail() for a in product.artifacts]}


@operation("DescribeProvisioningArtifact")
def describe_provisioning_artifact(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    if not (params.get("ProductId") or params.get("ProductName")):
        raise InvalidParametersException("ProductId or ProductName is required.")
    if not (params.get("ProvisioningArtifactId") or params.get("ProvisioningArtifactName")):
        raise InvalidParametersException("ProvisioningArtifactId or ProvisioningArtifactName is required.")
    try:
        product = admin_product(catalog, caller, params.get("ProductId"), params.get("ProductName"))
    except ResourceNotFoundException:
        product = end_user_product(catalog, caller, params.get("ProductId"), params.get("ProductName"))
    artifact = artifact_of(product, params.get("ProvisioningArtifactId"), params.get("ProvisioningArtifactName"))
    out = _artifact_result(artifact)
    if params.get("Verbose"):
        out["Info"]["CloudFormationTemplate"] = artifact.template
    if params.get("IncludeProvisioningArtifactParameters"):
        out["ProvisioningArtifactParameters"] = templates.parameters(artifact.template)
    return out


@operation("UpdateProvisioningArtifact")
def update_provisioning_artifact(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """Active=false hides the version from end users; Guidance=DEPRECATED stops new launches
    of it while existing provisioned products can still be updated (API reference)."""
    required(params, "ProductId", "ProvisioningArtifactId")
    product = catalog.own_product(caller, params["ProductId"])
    artifact = artifact_of(product, params["ProvisioningArtifactId"])
    if params.get("Guidance") not in (None, "DEFAULT", "DEPRECATED"):
        raise InvalidParametersException(f"Invalid Guidance {params['Guidance']}.")
    if params.get("Name") is not None:
        artifact.name = params["Name"]
    if params.get("Description") is not None:
        artifact.description = params["Description"]
    if params.get("Active") is not None:
        artifact.active = bool(params["Active"])
    if params.get("Guidance") is not None:
        artifact.guidance = params["Guidance"]
    return _artifact_result(artifact)


@operation("DeleteProvisioningArtifact")
def delete_provisioning_artifact(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """"You cannot delete the last provisioning artifact for a product, because a product must
    have at least one provisioning artifact." (API reference)"""
    required(params, "ProductId", "ProvisioningArtifactId")
    product = catalog.own_product(caller, params["ProductId"])
    artifact = artifact_of(product, params["ProvisioningArtifactId"])
    if len(product.artifacts) == 1:
        raise InvalidParametersException(
            f"Cannot delete {artifact.id}: it is the last provisioning artifact of {product.id}."
        )
    product.artifacts.remove(artifact)
    return {}


# -- portfolio associations -------------------------------------------------------------------


@operation("AssociateProductWithPortfolio")
def associate_product(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """The portfolio must be the caller's; the product the caller's own, or one reached through
    an imported SourcePortfolioId."""
    required(params, "ProductId", "PortfolioId")
    portfolio = catalog.own_portfolio(caller, params["PortfolioId"])
    product = catalog.products.get(params["ProductId"])
    owned = product is not None and product.account == caller.account and product.region == caller.region
    if not owned:
        source = catalog.portfolios.get(params.get("SourcePortfolioId") or "")
        if product is None or source is None or product.id not in source.product_ids or not account_can_use(
            catalog, source, caller
        ):
            raise ResourceNotFoundException(f"Product {params['ProductId']} not found.")
    if product.id not in portfolio.product_ids:
        portfolio.product_ids.append(product.id)
    return {}


@operation("DisassociateProductFromPortfolio")
def disassociate_product(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "ProductId", "PortfolioId")
    portfolio = catalog.own_portfolio(caller, params["PortfolioId"])
    if params["ProductId"] not in portfolio.product_ids:
        raise ResourceNotFoundException(f"Product {params['ProductId']} is not associated with {portfolio.id}.")
    if catalog.constraints_for(portfolio.id, params["ProductId"]):
        raise ResourceInUseException(
            f"Product {params['ProductId']} has constraints in {portfolio.id}; delete them first."
        )
    portfolio.product_ids.remove(params["ProductId"])
    return {}


@operation("ListPortfoliosForProduct")
def list_portfolios_for_product(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "ProductId")
    product = admin_product(catalog, caller, params["ProductId"])
    portfolios = [
        p.detail()
        for p in sorted(catalog.portfolios.values(), key=lambda p: p.created)
        if product.id in p.product_ids and p.account == caller.account and p.region == caller.region
    ]
    return paginate(portfolios, params, "PortfolioDetails")
