"""The stable import path of behaviour profiles (``from localaws.profile import set_profile``).

The feature lives in ``localaws.behaviour`` (``localaws.behaviour.profile``); this module only
names it for callers written against this path.
"""

from __future__ import annotations

from localaws.behaviour.profile import *  # noqa: F401,F403
from localaws.behaviour.profile import __all__  # noqa: F401
