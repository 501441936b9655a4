"""Local AWS at fleet scale (10,000 member accounts): two per-request costs of moto 5.2.5 removed.

Unlike the other patches these restore no AWS behaviour; they keep moto's answers exactly and
remove work that grows with the number of accounts (or is repeated on every request for nothing):

- ``access_key_index``: moto finds the account a request acts in (``get_account_id_from``) by
  looking for its access key in the IAM backend of every account and partition, on every request.
  Each member account the pipeline touches has an IAM backend, so at N accounts every request costs
  N lookups and a rollout costs N^2 (profiled: 55 % of seeding 1,500 accounts). An index from
  access key to account, kept up to date where IAM stores keys, answers in one lookup.
- ``moto_modules_listed_once``: moto's dispatcher tests ``host in list_of_moto_modules()``, which
  lists moto's package folder and stats every entry, several times per request (about 9 ms per
  request here, 20 % of seeding). The folder does not change while the server runs.
- ``ec2_without_public_images``: moto loads its catalogue of public AMIs into every account's EC2
  backend, about 4 MB per account (measured: 198 MB for 50 accounts with a VPC each, 23 MB
  without). The sample's network baseline makes a VPC in every account, so local AWS grew to 8.6 GB
  at 2,000 accounts. Nothing here launches an instance; an operator who wants the catalogue sets
  ``MOTO_EC2_LOAD_DEFAULT_AMIS=true`` before starting local AWS.
"""

from __future__ import annotations

import threading
from typing import Any

# access key id -> (account id, partition) of the IAM backend that holds it
_KEY_OWNERS: dict[str, tuple[str, str]] = {}
_index_lock = threading.Lock()


class _IndexedKeys(dict):
    """An IAM backend's ``access_keys`` that records each key's owner in the shared index."""

    def __init__(self, owner: tuple[str, str], *args: Any) -> None:
        super().__init__(*args)
        self.owner = owner
        with _index_lock:
            for key in self:
                _KEY_OWNERS[key] = owner

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        with _index_lock:
            _KEY_OWNERS[key] = self.owner

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._forget(key)

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._forget(key)
        return value

    def clear(self) -> None:
        for key in list(self):
            self._forget(key)
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def _forget(self, key: str) -> None:
        with _index_lock:
            if _KEY_OWNERS.get(key) == self.owner:
                del _KEY_OWNERS[key]


def access_key_index() -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam import models

    original_init = models.IAMBackend.__init__

    def __init__(self: Any, region_name: str, account_id: str, *args: Any, **kwargs: Any) -> None:
        original_init(self, region_name, account_id, *args, **kwargs)
        self.access_keys = _IndexedKeys((account_id, region_name), self.access_keys)

    def get_account_id_from(access_key: str) -> str:
        owner = _KEY_OWNERS.get(access_key)
        if owner is not None:
            account_id, partition = owner
            # The index may outlive a reset (moto drops whole backends); only a live key counts.
            backends = dict.get(models.iam_backends, account_id)
            backend = dict.get(backends, partition) if backends is not None else None
            if backend is not None and access_key in backend.access_keys:
                return account_id
        return DEFAULT_ACCOUNT_ID

    models.IAMBackend.__init__ = __init__
    # Backends made before the patch (none in a fresh server) get an indexed dict as well.
    for account_id, partitions in list(dict.items(models.iam_backends)):
        for partition, backend in list(dict.items(partitions)):
            if not isinstance(backend.access_keys, _IndexedKeys):
                backend.access_keys = _IndexedKeys((account_id, partition), backend.access_keys)
    models.get_account_id_from = get_account_id_from


def moto_modules_listed_once() -> None:
    from moto import backends

    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def ec2_without_public_images() -> None:
    import os

    # moto reads the setting each time it builds an account's EC2 backend (moto.settings).
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


PATCHES = [access_key_index, moto_modules_listed_once, ec2_without_public_images]
