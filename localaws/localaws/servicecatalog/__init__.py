"""AWS Service Catalog for local AWS: the API moto 5.2.5 lacks, served in front of moto.

Layout, as moto's services: ``urls`` (which requests are ours), ``responses`` (WSGI, JSON 1.1),
``models`` (the resources and the state, per account and region in moto's ``BackendDict``),
``exceptions``; ``operations/*`` (one module per API area, registered in ``registry``), ``access``
(end-user access rules), ``templates`` (S3 / stack template loading), ``stacks`` (provisioned
products' CloudFormation stacks in moto), ``membership`` (organization membership for shares),
``account_factory`` (Control Tower's Account Factory product).
"""

from .responses import ServiceCatalogExtension
from .registry import OPERATIONS

__all__ = ["OPERATIONS", "ServiceCatalogExtension"]
