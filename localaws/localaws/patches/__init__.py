"""Fixes for gaps in moto 5.2.5, applied once, in the process that serves local AWS.

Each patch is a small function that restores one documented AWS behaviour (the AWS CloudFormation
resource reference or the service's API reference) and has a test that fails without it.
They are keyed to one moto version: on any other version this import fails, so an upgrade makes
someone re-check every patch (drop the ones moto fixed, re-fit the rest) instead of silently
losing or double-applying a fix.
"""

from __future__ import annotations

import os
import threading
from importlib.metadata import version

MOTO_VERSION = "5.2.5"

_installed = version("moto")
if _installed != MOTO_VERSION:
    raise ImportError(
        f"localaws.patches are written for moto {MOTO_VERSION}, but moto {_installed} is "
        f"installed: pin moto[server,cloudformation]=={MOTO_VERSION} or re-check every patch in "
        f"{__name__} against the new version (and its tests in localaws/tests/)"
    )

_lock = threading.Lock()
_applied: list[str] = []


def _all_patches() -> list:
    from localaws import drift
    from localaws.patches import cloudformation, iam, kms, s3, scale, sns, ssm

    return [*kms.PATCHES, *s3.PATCHES, *iam.PATCHES, *sns.PATCHES, *ssm.PATCHES,
            *cloudformation.PATCHES, *drift.PATCHES, *scale.PATCHES]


# Debugging aid, e.g. after a moto upgrade: LOCALAWS_DISABLE_PATCHES=all (or a comma-separated
# list of patch names) skips patches so their tests show whether moto still needs them.
DISABLE_ENV = "LOCALAWS_DISABLE_PATCHES"


def apply_all() -> list[str]:
    """Apply every patch once (later calls do nothing); returns the names applied."""
    disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    with _lock:
        if not _applied:
            for patch in _all_patches():
                if "all" in disabled or patch.__name__ in disabled:
                    continue
                patch()
                _applied.append(patch.__name__)
        return list(_applied)
