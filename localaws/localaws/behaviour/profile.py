"""Behaviour profiles: how far local AWS behaves like real AWS (asynchronous states, injected faults).

moto answers every call at once and never fails on its own: CreateAccount is SUCCEEDED when it
returns, a new account's role and every region answer at once, a stack is COMPLETE when CreateStack
returns, nothing is ever throttled. Code that must cope with real AWS (pollers, sensors, retries,
failure tolerance) needs those states to be observable, so a profile says how long each state lasts
and which faults to inject. ``localaws.behaviour.ProfileExtension`` applies it.

A profile is a YAML file (``localaws up|serve --profile FILE``), a dict or a loaded ``Profile``
(``LocalAws(profile=...)``). A bare name such as ``realistic`` is a profile shipped in
``localaws/behaviour/profiles/``. No profile means ``default``: no
delays, no faults, exactly moto's behaviour.

Schema (``profile.schema.json`` next to this module, validated with ``jsonschema``; every key is
optional; unknown keys and wrong types are errors naming the file, the key path, its line and
what was expected; the rules across fields, as for ``rate`` and ``requests_per_second``, are
code)::

    name: realistic                   # a label, shown by `status` and GET /_localaws/profile
    seed: 7                           # RNG seed for throttling decisions (reproducible runs)
    organizations:
      create_account:
        in_progress_seconds: 3        # CreateAccount / DescribeCreateAccountStatus /
                                      # ListCreateAccountStatus say IN_PROGRESS this long; the
                                      # account is in no listing until then
        failures:                     # email (or glob, case-insensitive) -> FailureReason: the
          taken@example.com: EMAIL_ALREADY_EXISTS     # creation ends FAILED and makes no account
      role_assumable_after_seconds: 1 # sts:AssumeRole into the new account is AccessDenied until
                                      # this long after SUCCEEDED
      regions_answer_after_seconds: 1 # the new account's credentials fail (InvalidClientTokenId,
                                      # as in a region not yet enabled) outside its home region
                                      # (the region CreateAccount was signed for) until this long
                                      # after the role became assumable
    cloudformation:
      in_progress_seconds: 1          # CREATE_ / UPDATE_ / DELETE_IN_PROGRESS (and
                                      # ROLLBACK_IN_PROGRESS) this long before the next state
      fail_stacks:                    # stack creations that fail and roll back
        - accounts: ["111111111111"]  # optional: only these accounts (quoted 12-digit ids)
          regions: [eu-west-1]        # optional: only these regions
          stack_name: "fleet-*"       # optional: glob on the stack name
          resource: Bucket            # optional: the logical id that fails (default: the last
                                      # resource created)
          reason: "..."               # optional: the failed resource's ResourceStatusReason
    throttling:                       # the first rule matching a request decides
      - service: organizations        # the SigV4 signing name (credential scope) of the request
        operations: [ListAccounts]    # optional: only these operations (JSON and query APIs)
        rate: 0.3                     # share of matching requests answered with the service's
                                      # throttling error (0..1), drawn at random
      - service: cloudformation       # or, as AWS throttles: a token bucket per account and
        requests_per_second: 5        # region refilled at this rate, holding up to `burst`
        burst: 10                     # requests (default: requests_per_second, at least 1)

A random ``rate`` throttles a client however slowly it calls, so botocore's adaptive retry mode
slows to its minimum (about one call a second per client); ``requests_per_second`` lets a client
that slows down through, as AWS does.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from localaws.problems import Problem, line_index

__all__ = ["CONTROL_PATH", "DEFAULT_NAME", "FAILURE_REASONS", "MAX_SECONDS", "PROFILES_DIR", "CloudFormationBehaviour",
           "CreateAccountBehaviour", "OrganizationsBehaviour", "Profile", "ProfileError", "StackFailure",
           "ThrottleRule", "get_profile", "load_profile", "reference", "set_profile", "shipped_profiles"]

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
CONTROL_PATH = "/_localaws/profile"
DEFAULT_NAME = "default"

# AWS Organizations API reference, CreateAccountStatus.FailureReason.
FAILURE_REASONS = (
    "ACCOUNT_LIMIT_EXCEEDED", "EMAIL_ALREADY_EXISTS", "INVALID_ADDRESS", "INVALID_EMAIL",
    "CONCURRENT_ACCOUNT_MODIFICATION", "INTERNAL_FAILURE", "GOVCLOUD_ACCOUNT_ALREADY_EXISTS",
    "MISSING_BUSINESS_VALIDATION", "FAILED_BUSINESS_VALIDATION", "PENDING_BUSINESS_VALIDATION",
    "INVALID_IDENTITY_FOR_BUSINESS_VALIDATION", "UNKNOWN_BUSINESS_VALIDATION",
    "MISSING_PAYMENT_INSTRUMENT", "INVALID_PAYMENT_INSTRUMENT",
    "UPDATE_EXISTING_RESOURCE_POLICY_WITH_TAGS_NOT_SUPPORTED",
)
MAX_SECONDS = 3600
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


# -- the model ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreateAccountBehaviour:
    in_progress_seconds: float = 0.0
    failures: tuple[tuple[str, str], ...] = ()  # (email glob, FailureReason), first match wins

    def failure_for(self, email: str) -> str | None:
        email = (email or "").lower()
        return next((reason for pattern, reason in self.failures
                     if fnmatch.fnmatchcase(email, pattern.lower())), None)


@dataclass(frozen=True)
class OrganizationsBehaviour:
    create_account: CreateAccountBehaviour = field(default_factory=CreateAccountBehaviour)
    role_assumable_after_seconds: float = 0.0
    regions_answer_after_seconds: float = 0.0

    @property
    def neutral(self) -> bool:
        return not (self.create_account.in_progress_seconds or self.create_account.failures
                    or self.role_assumable_after_seconds or self.regions_answer_after_seconds)


@dataclass(frozen=True)
class StackFailure:
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    stack_name: str | None = None
    resource: str | None = None
    reason: str | None = None

    def matches(self, account: str, region: str, stack_name: str) -> bool:
        return ((not self.accounts or account in self.accounts)
                and (not self.regions or region in self.regions)
                and (self.stack_name is None or fnmatch.fnmatchcase(stack_name, self.stack_name)))


@dataclass(frozen=True)
class CloudFormationBehaviour:
    in_progress_seconds: float = 0.0
    fail_stacks: tuple[StackFailure, ...] = ()

    def failure_for(self, account: str, region: str, stack_name: str) -> StackFailure | None:
        return next((f for f in self.fail_stacks if f.matches(account, region, stack_name)), None)


@dataclass(frozen=True)
class ThrottleRule:
    """Either ``rate`` (a share of requests, drawn at random) or ``requests_per_second`` (a token
    bucket per account and region holding ``burst`` requests, as AWS throttles)."""

    service: str
    rate: float | None = None
    operations: tuple[str, ...] = ()
    requests_per_second: float | None = None
    burst: float | None = None

    def matches(self, service: str, operation: str | None) -> bool:
        if service != self.service:
            return False
        return not self.operations or operation in self.operations


@dataclass(frozen=True)
class Profile:
    name: str = DEFAULT_NAME
    seed: int = 0
    organizations: OrganizationsBehaviour = field(default_factory=OrganizationsBehaviour)
    cloudformation: CloudFormationBehaviour = field(default_factory=CloudFormationBehaviour)
    throttling: tuple[ThrottleRule, ...] = ()
    # Where it came from (a shipped name, a file, "<dict>"): for messages, not part of its meaning.
    source: str = field(default=DEFAULT_NAME, compare=False)

    @property
    def neutral(self) -> bool:
        """True when the profile changes nothing (moto's own behaviour)."""
        return (self.organizations.neutral and not self.cloudformation.in_progress_seconds
                and not self.cloudformation.fail_stacks and not self.throttling)

    def to_dict(self) -> dict[str, Any]:
        """The profile in its schema's form (loading this dict gives an equal profile)."""
        org, cfn = self.organizations, self.cloudformation
        return {
            "name": self.name,
            "seed": self.seed,
            "organizations": {
                "create_account": {"in_progress_seconds": org.create_account.in_progress_seconds,
                                   "failures": dict(org.create_account.failures)},
                "role_assumable_after_seconds": org.role_assumable_after_seconds,
                "regions_answer_after_seconds": org.regions_answer_after_seconds,
            },
            "cloudformation": {
                "in_progress_seconds": cfn.in_progress_seconds,
                "fail_stacks": [{k: (list(v) if isinstance(v, tuple) else v)
                                 for k, v in vars(f).items() if v not in ((), None)}
                                for f in cfn.fail_stacks],
            },
            "throttling": [{"service": r.service, **({"operations": list(r.operations)} if r.operations else {}),
                            **{k: getattr(r, k) for k in ("rate", "requests_per_second", "burst")
                               if getattr(r, k) is not None}} for r in self.throttling],
        }


# -- errors ---------------------------------------------------------------------------------------


class ProfileError(ValueError):
    """A profile that cannot be used; the message is one line naming the file, the key and what
    was expected (every problem found, separated by "; ")."""

    def __init__(self, problems: list[Problem], message: str | None = None):
        self.problems = problems
        super().__init__(message or "; ".join(str(p) for p in problems))


# -- loading --------------------------------------------------------------------------------------
def shipped_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def _shipped(ref: Any) -> Path | None:
    """The shipped file for a bare profile name (a path that exists always wins)."""
    if isinstance(ref, str) and _PROFILE_NAME.match(ref) and not Path(ref).exists():
        return PROFILES_DIR / f"{ref}.yaml"
    return None


def reference(ref: str | Path) -> str:
    """How to name ``ref`` to another process: a shipped name as is, a file as an absolute path."""
    shipped = _shipped(ref)
    if shipped is not None:
        return str(ref)
    return str(Path(ref).resolve())


def load_profile(value: Any = None, display: str = "<dict>") -> Profile:
    """A Profile from None (the default), a shipped name, a path, a dict or a Profile.

    ``display`` names a dict in error messages (where it came from)."""
    if value is None:
        value = DEFAULT_NAME
    if isinstance(value, Profile):
        return value
    if isinstance(value, dict):
        return _Validator(display, {}).profile(value, default_name="custom", source=display)
    if not isinstance(value, (str, Path)):
        raise ProfileError([Problem(repr(value), "", None,
                                    "expected a profile name, a path to a YAML file, a dict or a Profile")])
    shipped = _shipped(value)
    if shipped is not None:
        if not shipped.exists():
            raise ProfileError([Problem(str(value), "", None,
                                        f"expected a shipped profile ({', '.join(shipped_profiles())}) "
                                        "or a path to a YAML file")])
        return _load_file(shipped, source=str(value))
    path = Path(value)
    return _load_file(path, source=str(path.resolve()))


def _load_file(path: Path, source: str) -> Profile:
    display = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError([Problem(display, "", None,
                                    f"expected a readable profile file ({exc.strerror or exc})")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        raise ProfileError([Problem(display, "", mark.line + 1 if mark else None,
                                    f"expected valid YAML ({reason})")]) from None
    if data is None:
        data = {}
    return _Validator(display, line_index(node)).profile(data, default_name=path.stem, source=source)


SCHEMA_FILE = Path(__file__).resolve().parent / "profile.schema.json"
_MISSING = object()


@functools.lru_cache(maxsize=1)
def _schema_validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def _key(path: Any) -> str:
    """A JSON Schema error path as this project writes key paths: ``a.b[0].c``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _child(key: str, name: Any) -> str:
    return f"{key}.{name}" if key else str(name)


def _expected(schema: dict[str, Any]) -> str:
    if "x-expected" in schema:
        return schema["x-expected"]
    return f"a mapping with keys {', '.join(schema.get('properties', {}))}"


class _Validator:
    """Checks a profile against ``profile.schema.json`` (types, ranges, names, unknown keys) and
    then the rules across fields the schema does not express, then builds the model; every
    problem names the file, the key path, its line and what was expected."""

    def __init__(self, file: str, lines: dict[str, int]):
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []

    def fail(self, key: str, expected: str, got: Any = _MISSING) -> None:
        shown = "" if got is _MISSING else f", got {got!r}"
        self.problems.append(Problem(self.file, key, self.lines.get(key), f"expected {expected}{shown}"))

    def schema_problems(self, data: Any) -> None:
        errors = sorted(_schema_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
        for error in errors:
            key = _key(error.absolute_path)
            if error.validator == "additionalProperties" and error.validator_value is False:
                allowed = tuple(error.schema.get("properties", {}))
                for name in error.instance:
                    if name not in allowed:
                        self.fail(_child(key, name), f"one of the keys {', '.join(allowed)} (unknown key)")
            elif "propertyNames" in error.relative_schema_path:
                self.fail(_child(key, error.instance), _expected(error.schema))
            elif error.validator == "required":
                for name in error.validator_value:
                    if name not in error.instance:
                        self.fail(_child(key, name), _expected(error.schema["properties"][name]))
            else:
                self.fail(key, _expected(error.schema), error.instance)

    def profile(self, data: Any, default_name: str, source: str) -> Profile:
        self.schema_problems(data)
        if isinstance(data, dict):
            for i, rule in enumerate(data.get("throttling") or []):
                if isinstance(rule, dict):
                    self.throttle_rule(rule, f"throttling[{i}]")
        if self.problems:
            raise ProfileError(self.problems)
        return _build(data, default_name, source)

    def throttle_rule(self, rule: dict[str, Any], path: str) -> None:
        """Cross-field: a rule throttles by ``rate`` or by ``requests_per_second`` (with ``burst``)."""
        if "requests_per_second" in rule:
            if "rate" in rule:
                self.fail(f"{path}.rate", "either rate or requests_per_second, not both")
        elif "burst" in rule:
            self.fail(f"{path}.burst", "burst only with requests_per_second")
        elif "rate" not in rule:
            self.fail(f"{path}.rate", _expected(_schema_validator().schema["properties"]["throttling"]["items"]
                                                ["properties"]["rate"]))


def _build(data: dict[str, Any], default_name: str, source: str) -> Profile:
    """The model of a profile that passed validation."""
    org = data.get("organizations") or {}
    create = org.get("create_account") or {}
    cfn = data.get("cloudformation") or {}
    throttling = []
    for rule in data.get("throttling") or []:
        operations = tuple(rule.get("operations", ()))
        if "requests_per_second" in rule:
            rps, burst = float(rule["requests_per_second"]), rule.get("burst")
            throttling.append(ThrottleRule(rule["service"], None, operations, rps,
                                           float(burst if burst is not None else max(1.0, rps))))
        else:
            throttling.append(ThrottleRule(rule["service"], float(rule["rate"]), operations))
    return Profile(
        name=data.get("name", default_name),
        seed=int(data.get("seed", 0)),
        organizations=OrganizationsBehaviour(
            CreateAccountBehaviour(float(create.get("in_progress_seconds", 0)),
                                   tuple((create.get("failures") or {}).items())),
            float(org.get("role_assumable_after_seconds", 0)),
            float(org.get("regions_answer_after_seconds", 0))),
        cloudformation=CloudFormationBehaviour(
            float(cfn.get("in_progress_seconds", 0)),
            tuple(StackFailure(tuple(f.get("accounts", ())), tuple(f.get("regions", ())),
                               **{k: f[k] for k in ("stack_name", "resource", "reason") if k in f})
                  for f in cfn.get("fail_stacks") or ())),
        throttling=tuple(throttling),
        source=source)


# -- runtime control (tests) ----------------------------------------------------------------------
def get_profile(endpoint_url: str, timeout: float = 10.0) -> dict[str, Any]:
    """The profile a running local AWS applies (GET /_localaws/profile), with ``stats``: the counts
    of what it did since it was set (requests, throttled, assume_role_denied, region_refused,
    create_account_failed, stack_failed)."""
    with urllib.request.urlopen(f"{endpoint_url.rstrip('/')}{CONTROL_PATH}", timeout=timeout) as resp:
        return json.loads(resp.read())


def set_profile(endpoint_url: str, profile: Any, timeout: float = 10.0) -> dict[str, Any]:
    """Make a running local AWS apply ``profile`` (a name, a path, a dict or a Profile) from its next
    request on; returns the profile it applied before (pass it back to restore). Resources already
    in flight keep the timing they started with."""
    if isinstance(profile, dict) and "stats" in profile:  # what get_profile answered
        profile = {k: v for k, v in profile.items() if k != "stats"}
    body = json.dumps(load_profile(profile).to_dict()).encode()
    request = urllib.request.Request(f"{endpoint_url.rstrip('/')}{CONTROL_PATH}", data=body, method="PUT",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return json.loads(resp.read())["previous"]
    except urllib.error.HTTPError as exc:
        if exc.code == 400:
            message = json.loads(exc.read() or b"{}").get("message", str(exc))
            raise ProfileError([], message=message) from None
        raise
