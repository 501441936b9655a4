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

Schema (every key is optional; unknown keys and wrong types are errors naming the file, the key
path and what was expected)::

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
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_OPERATION = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_LOGICAL_ID = re.compile(r"^[A-Za-z0-9]+$")


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


_MISSING = object()


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Validator:
    def __init__(self, file: str, lines: dict[str, int]):
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []

    def fail(self, key: str, expected: str, got: Any = _MISSING) -> None:
        shown = "" if got is _MISSING else f", got {got!r}"
        self.problems.append(Problem(self.file, key, self.lines.get(key), f"expected {expected}{shown}"))

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"a mapping with keys {', '.join(allowed)}", value)
            return {}
        for k in value:
            if k not in allowed:
                self.fail(f"{key}.{k}" if key else str(k),
                          f"one of the keys {', '.join(allowed)} (unknown key)")
        return value

    def seconds(self, data: dict, key: str, name: str) -> float:
        value = data.get(name, 0)
        path = f"{key}.{name}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_SECONDS:
            self.fail(path, f"a number of seconds from 0 to {MAX_SECONDS}", value)
            return 0.0
        return float(value)

    def strings(self, value: Any, key: str, pattern: re.Pattern, what: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.fail(key, f"a non-empty list of {what}", value)
            return ()
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not pattern.match(item):
                self.fail(f"{key}[{i}]", what, item)
            else:
                out.append(item)
        return tuple(out)

    def profile(self, data: Any, default_name: str, source: str) -> Profile:
        data = self.mapping(data, "", ("name", "seed", "organizations", "cloudformation", "throttling"))
        name = data.get("name", default_name)
        if not isinstance(name, str) or not name.strip():
            self.fail("name", "a non-empty string", name)
            name = default_name
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            self.fail("seed", "an integer", seed)
            seed = 0
        profile = Profile(name=name, seed=seed, organizations=self.organizations(data.get("organizations")),
                          cloudformation=self.cloudformation(data.get("cloudformation")),
                          throttling=self.throttling(data.get("throttling")), source=source)
        if self.problems:
            raise ProfileError(self.problems)
        return profile

    def organizations(self, value: Any) -> OrganizationsBehaviour:
        key = "organizations"
        data = self.mapping(value, key, ("create_account", "role_assumable_after_seconds",
                                         "regions_answer_after_seconds"))
        ca_key = f"{key}.create_account"
        ca = self.mapping(data.get("create_account"), ca_key, ("in_progress_seconds", "failures"))
        failures = []
        raw = ca.get("failures")
        if raw is not None and not isinstance(raw, dict):
            self.fail(f"{ca_key}.failures", "a mapping of email (or glob) to a FailureReason", raw)
        for email, reason in (raw or {}).items() if isinstance(raw, dict) else ():
            path = f"{ca_key}.failures.{email}"
            if not isinstance(email, str) or "@" not in email:
                self.fail(path, "an email address (or a glob such as *@blocked.example.com) as the key")
            elif reason not in FAILURE_REASONS:
                self.fail(path, f"a FailureReason: one of {', '.join(FAILURE_REASONS)}", reason)
            else:
                failures.append((email, reason))
        create = CreateAccountBehaviour(self.seconds(ca, ca_key, "in_progress_seconds"), tuple(failures))
        return OrganizationsBehaviour(create, self.seconds(data, key, "role_assumable_after_seconds"),
                                      self.seconds(data, key, "regions_answer_after_seconds"))

    def cloudformation(self, value: Any) -> CloudFormationBehaviour:
        key = "cloudformation"
        data = self.mapping(value, key, ("in_progress_seconds", "fail_stacks"))
        rules = []
        raw = data.get("fail_stacks")
        if raw is not None and not isinstance(raw, list):
            self.fail(f"{key}.fail_stacks", "a list of rules (accounts, regions, stack_name, resource, reason)", raw)
            raw = []
        for i, item in enumerate(raw or []):
            path = f"{key}.fail_stacks[{i}]"
            if not isinstance(item, dict):
                self.fail(path, "a mapping with keys accounts, regions, stack_name, resource, reason", item)
                continue
            rule = self.mapping(item, path, ("accounts", "regions", "stack_name", "resource", "reason"))
            accounts = (self.strings(rule["accounts"], f"{path}.accounts", _ACCOUNT_ID,
                                     'a 12-digit account id in quotes ("111111111111")')
                        if "accounts" in rule else ())
            regions = (self.strings(rule["regions"], f"{path}.regions", _REGION, "a region name (us-east-1)")
                       if "regions" in rule else ())
            texts = {}
            for name, pattern, what in (("stack_name", None, "a stack name or glob"),
                                        ("resource", _LOGICAL_ID, "a logical resource id (letters and digits)"),
                                        ("reason", None, "a non-empty string")):
                v = rule.get(name)
                if v is None:
                    continue
                if not isinstance(v, str) or not v or (pattern is not None and not pattern.match(v)):
                    self.fail(f"{path}.{name}", what, v)
                else:
                    texts[name] = v
            rules.append(StackFailure(accounts, regions, **texts))
        return CloudFormationBehaviour(self.seconds(data, key, "in_progress_seconds"), tuple(rules))

    def throttling(self, value: Any) -> tuple[ThrottleRule, ...]:
        key = "throttling"
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(key, "a list of rules (service, operations, rate)", value)
            return ()
        rules = []
        for i, item in enumerate(value):
            path = f"{key}[{i}]"
            if not isinstance(item, dict):
                self.fail(path, "a mapping with keys service, operations, rate (or requests_per_second, burst)",
                          item)
                continue
            rule = self.mapping(item, path, ("service", "operations", "rate", "requests_per_second", "burst"))
            service = rule.get("service")
            if not isinstance(service, str) or not _SERVICE.match(service):
                self.fail(f"{path}.service", "a service's signing name (organizations, sts, cloudformation, ...)",
                          service)
                continue
            operations = (self.strings(rule["operations"], f"{path}.operations", _OPERATION,
                                       "an operation name (DescribeStacks)") if "operations" in rule else ())
            if "requests_per_second" in rule:
                rps, burst = rule["requests_per_second"], rule.get("burst")
                if "rate" in rule:
                    self.fail(f"{path}.rate", "either rate or requests_per_second, not both")
                elif not _number(rps) or rps <= 0:
                    self.fail(f"{path}.requests_per_second", "a number of requests per second above 0", rps)
                elif burst is not None and (not _number(burst) or burst < 1):
                    self.fail(f"{path}.burst", "a number of requests of at least 1", burst)
                else:
                    rules.append(ThrottleRule(service, None, operations, float(rps),
                                              float(burst if burst is not None else max(1.0, rps))))
                continue
            rate = rule.get("rate")
            if "burst" in rule:
                self.fail(f"{path}.burst", "burst only with requests_per_second")
            elif not _number(rate) or not 0 <= rate <= 1:
                self.fail(f"{path}.rate", "a number from 0 to 1 (the share of requests throttled), "
                          "or requests_per_second instead", _MISSING if rate is None else rate)
            else:
                rules.append(ThrottleRule(service, float(rate), operations))
        return tuple(rules)


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
