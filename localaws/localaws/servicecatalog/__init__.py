"""AWS Service Catalog for local AWS: the API moto 5.2.5 lacks, served in front of moto.

Layout: ``extension`` (WSGI, JSON 1.1), ``operations/*`` (one module per API area, registered in
``registry``), ``store`` (state, one lock), ``access`` (end-user access rules), ``templates`` (S3 /
stack template loading), ``provisioning`` (CloudFormation stacks in moto), ``organizations``
(share membership), ``caller`` (account and identity of a request), ``errors``.
"""

from .extension import ServiceCatalogExtension
from .registry import OPERATIONS

__all__ = ["OPERATIONS", "ServiceCatalogExtension"]
