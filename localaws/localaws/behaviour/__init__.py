"""Behaviour profiles: how far local AWS behaves like real AWS (asynchronous states, injected faults).

One feature, one package:

- ``profile``: what a profile says (the model), loading and validating it (against
  ``profile.schema.json``), and changing a running server's profile (``set_profile``, ``get_profile``);
- ``profiles/``: the shipped profiles (``default``, ``realistic``);
- ``extension``: ``ProfileExtension``, which applies a profile to every request;
- ``account_creation``, ``stack_states``: what a profile changes in Organizations and CloudFormation;
- ``state``: the transitions still due (one per process, like moto's backends);
- ``responses``: answers in each protocol's wire format.
"""

from __future__ import annotations

from localaws.behaviour.extension import ProfileExtension, throttled
from localaws.behaviour.profile import (
    CONTROL_PATH,
    Profile,
    ProfileError,
    get_profile,
    load_profile,
    set_profile,
    shipped_profiles,
)
from localaws.behaviour.state import STATE, State

__all__ = ["CONTROL_PATH", "Profile", "ProfileError", "ProfileExtension", "STATE", "State", "get_profile",
           "load_profile", "set_profile", "shipped_profiles", "throttled"]
