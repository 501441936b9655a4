"""Gate `policy`: policy-as-code rules on real engines.

Rules live in a rules directory (see locate.rules_dir):
  guard/<name>.guard   CloudFormation Guard 3 rules, run by the cfn-guard binary
  rego/<name>.rego     Rego rules (package fleet.rules.<name>, a `deny` set of
                       {"resource", "message"}), run in-process by regorus
  tests/<name>/pass.yaml and fail.yaml: each rule's examples. They are evaluated in the same run
                       as the templates, so a rule that stops catching its failing example (or
                       starts flagging its passing one) is itself a finding.
A first-lines comment `# fleet:severity warning` makes a rule's findings warnings (default error);
the header comment's first sentence is the rule's description (`python -m fleet.gates.rules`).
Findings of a rule carry `policy:<file stem>`; the gate's own problems `policy:<what went wrong>`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import locate
from .findings import Finding
from .workspace import SourceFile, Template, Workspace, decode_template

_SEVERITY = re.compile(r"^#\s*fleet:severity\s+(error|warning)\s*$", re.M)
_GUARD_RULE = re.compile(r"^\s*rule\s+([A-Za-z_][A-Za-z0-9_]*)", re.M)
_GUARD_PARSE_ERROR = re.compile(
    r"Parsing error handling rule file = (?P<file>.+?), Error = .*?"
    r"at line (?P<line>\d+) at column (?P<col>\d+)(?P<rest>[^\n]*)", re.S)
_GUARD_DATA_ERROR = re.compile(r"while parsing data file: (?P<file>[^,\n]+?),? data beginning")
_LOCATION = re.compile(r"\[L:(\d+),C:\d+\]")
_RESOURCE_PATH = re.compile(r"/Resources/([^/\[]+)")


@dataclass
class RuleFile:
    """A Guard or Rego rule file and what its header says."""

    engine: str  # guard | rego
    name: str  # file stem; its examples are tests/<name>/
    path: Path
    severity: str
    description: str = ""  # the header comment: why the rule exists
    guard_rules: list[str] = field(default_factory=list)  # named rules inside a .guard file
    package: str | None = None  # rego: data.fleet.rules.<name>

    @property
    def id(self) -> str:
        return f"policy:{self.name}"

    def example(self, expect: str) -> Path:
        """tests/<name>/pass.yaml or fail.yaml beside guard/ and rego/ (may not exist)."""
        return self.path.parents[1] / "tests" / self.name / f"{expect}.yaml"


@dataclass
class Example:
    rule: RuleFile
    expect: str  # pass | fail
    template: Template


def run(ws: Workspace, rules_dir: Path | None) -> list[Finding]:
    if rules_dir is None or not rules_dir.is_dir():
        return [Finding("policy", "policy:no-rules", "error", ".", None, None,
                        "no policy rules found: create <path>/policies/ or set FLEET_POLICIES_DIR "
                        f"(looked for {rules_dir or '<path>/policies'})")]
    findings: list[Finding] = []
    rules = _load_rules(rules_dir, findings, ws)
    examples = _load_examples(rules, ws, findings)
    templates = [t for t in ws.templates if t.checked_data is not None]
    for t in ws.templates:
        for line, reason in t.skipped:
            findings.append(Finding("policy", "policy:not-checked", "warning", t.rel, line, None,
                                    reason))

    guard_rules = [r for r in rules if r.engine == "guard"]
    rego_rules = [r for r in rules if r.engine == "rego"]
    verdicts: dict[tuple[str, str], set[str]] = {}  # (rule name, example file) -> failing rules
    if guard_rules:
        findings += _run_guard(ws, guard_rules, templates, examples, verdicts)
    if rego_rules:
        findings += _run_rego(ws, rego_rules, templates, examples, verdicts)
    findings += _judge_examples(ws, examples, verdicts)
    return findings


def _rel(ws: Workspace, path: Path) -> str:
    return os.path.relpath(path, ws.root)


def read_rules(rules_dir: Path) -> tuple[list[RuleFile], list[tuple[Path, str]]]:
    """The rule files under rules_dir, and (path, why) for each one that cannot be read."""
    rules, unreadable = [], []
    for engine, suffix in (("guard", ".guard"), ("rego", ".rego")):
        for path in sorted((rules_dir / engine).glob(f"*{suffix}")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                unreadable.append((path, f"cannot read rule file: {type(exc).__name__}"))
                continue
            match = _SEVERITY.search(text)
            rule = RuleFile(engine, path.stem, path, match.group(1) if match else "error",
                        _description(text))
            if engine == "guard":
                rule.guard_rules = _GUARD_RULE.findall(text)
            rules.append(rule)
    return rules, unreadable


def _load_rules(rules_dir: Path, findings: list[Finding], ws: Workspace) -> list[RuleFile]:
    rules, unreadable = read_rules(rules_dir)
    for path, why in unreadable:
        findings.append(Finding("policy", "policy:rule-unreadable", "error", _rel(ws, path),
                                None, None, why))
    if not rules:
        findings.append(Finding("policy", "policy:no-rules", "error", _rel(ws, rules_dir), None,
                                None, "rules directory holds no guard/*.guard or rego/*.rego rule"))
    return rules


def _description(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if not _SEVERITY.match(line):
            lines.append(line.lstrip("#").strip())
    return " ".join(lines).split(". ")[0].rstrip(".")


def _load_examples(rules: list[RuleFile], ws: Workspace,
                   findings: list[Finding]) -> list[Example]:
    examples = []
    for rule in rules:
        for expect in ("pass", "fail"):
            path = rule.example(expect)
            rel = _rel(ws, path)
            if not path.is_file():
                findings.append(Finding("policy", "policy:rule-example-missing", "error", rel, None,
                                        None, f"rule {rule.name} has no {expect} example ({rel})"))
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            data, problem = decode_template(text)
            if problem or not isinstance(data, dict):
                line, msg = problem or (None, "not a template")
                findings.append(Finding("policy", "policy:rule-example-invalid", "error", rel, line,
                                        None, f"example for {rule.name}: {msg}"))
                continue
            source = SourceFile(path, rel, len(text))
            examples.append(Example(rule, expect, Template(source, text=text, data=data)))
    return examples


def _judge_examples(ws, examples: list[Example], verdicts) -> list[Finding]:
    findings = []
    for ex in examples:
        failing = verdicts.get((ex.rule.name, str(ex.template.file.path)))
        if failing is None:
            continue  # the engine could not run; its own finding says so
        if ex.expect == "pass" and failing:
            findings.append(Finding(
                "policy", "policy:rule-example-failed", "error", ex.template.rel, None, None,
                f"rule {ex.rule.name} flags its passing example: the rule is broken"))
        if ex.expect == "fail" and not failing:
            findings.append(Finding(
                "policy", "policy:rule-example-failed", "error", ex.template.rel, None, None,
                f"rule {ex.rule.name} does not flag its failing example: the rule is broken"))
    return findings


# --- CloudFormation Guard -------------------------------------------------------------------


def _run_guard(ws, rules, templates, examples, verdicts) -> list[Finding]:
    binary = locate.cfn_guard_binary()
    if binary is None:
        return [Finding("policy", "policy:engine-missing", "error", ".", None, None,
                        f"{len(rules)} Guard rule(s) not evaluated: cfn-guard not found; "
                        f"{locate.INSTALL_GUARD_HINT}")]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fleet-guard-") as scratch:
        return _run_guard_in(ws, rules, templates, examples, verdicts, binary, Path(scratch))


def _run_guard_in(ws, rules, templates, examples, verdicts, binary, scratch: Path):
    findings: list[Finding] = []
    by_path = {}
    copies = set()  # data files that are expanded copies: Guard's line numbers are not the file's
    for i, t in enumerate(templates):
        if t.rewritten:
            copy = scratch / f"{i}.json"
            copy.write_text(json.dumps(t.checked_data, default=str))
            by_path[str(copy)] = t
            copies.add(str(copy))
        else:
            by_path[str(t.file.path)] = t
    for ex in examples:
        if ex.rule.engine == "guard":
            by_path[str(ex.template.file.path)] = ex.template
    data = list(by_path)
    results, stderr = None, ""
    # Guard aborts the whole run on a data file it cannot parse (naming it on stderr); drop that
    # file, report it, and go again, so one odd template cannot hide every other result.
    for _ in range(len(data) + 1):
        if not data:
            break
        args = [str(binary), "validate", "-z", "-S", "none", "-o", "json"]
        for r in rules:
            args += ["-r", str(r.path)]
        for d in data:
            args += ["-d", d]
        proc = subprocess.run(args, capture_output=True, text=True)
        stderr = proc.stderr
        if proc.stdout.strip():
            try:
                results = json.loads(proc.stdout)
            except json.JSONDecodeError:
                results = None
            break
        bad = _GUARD_DATA_ERROR.search(stderr)
        if not bad or bad.group("file").strip() not in data:
            break
        path = bad.group("file").strip()
        data.remove(path)
        findings.append(Finding("policy", "policy:guard-data", "error", by_path[path].rel, None,
                                None, "cfn-guard cannot parse this file as YAML/JSON"))
    for m in _GUARD_PARSE_ERROR.finditer(stderr):
        path = next((r.path for r in rules if r.path.name == Path(m.group("file")).name), None)
        findings.append(Finding(
            "policy", "policy:guard-syntax", "error", _rel(ws, path) if path else m.group("file"),
            int(m.group("line")), None,
            f"Guard rule file does not parse (line {m.group('line')}, column {m.group('col')}); "
            "its rules were not evaluated"))
    if results is None:
        if data:
            findings.append(Finding("policy", "policy:engine-failed", "error", ".", None, None,
                                    f"cfn-guard produced no report: {_first_line(stderr)}"))
        return findings

    owner = {gr: r for r in rules for gr in r.guard_rules}
    examples_by_path = {str(ex.template.file.path): ex for ex in examples if ex.rule.engine == "guard"}
    for report in results:
        name = report.get("name", "")
        failing = {nc["Rule"]["name"] for nc in report.get("not_compliant", []) if "Rule" in nc}
        ex = examples_by_path.get(name)
        if ex is not None:
            verdicts[(ex.rule.name, name)] = failing & set(ex.rule.guard_rules)
            continue
        template = by_path.get(name)
        if template is None:
            continue
        for nc in report.get("not_compliant", []):
            rule_name = nc.get("Rule", {}).get("name", "?")
            rule = owner.get(rule_name)
            severity = rule.severity if rule else "error"
            rule_id = rule.id if rule else f"policy:{rule_name}"
            seen = set()
            fallback = rule.description if rule else rule_name
            for message, line in _guard_checks(nc.get("Rule", {}), template, fallback,
                                               name in copies):
                if (message, line) in seen:
                    continue
                seen.add((message, line))
                findings.append(Finding("policy", rule_id, severity, template.rel, line, None,
                                        message))
    return findings


def _guard_checks(node, template: Template, fallback: str, copy: bool = False):
    """Yield (message, line) for each failed clause under a Guard rule report.

    The message is built from the rule's custom message and the failing property path only:
    Guard's own error_message quotes template values, which could hold a secret.
    """
    if isinstance(node, dict):
        messages = node.get("messages")
        if isinstance(messages, dict) and ("check" in node or "context" in node):
            where = _guard_where(node)
            custom = messages.get("custom_message")
            if not custom:
                missing = re.search(r'"remaining_query": "([^"]+)"', json.dumps(node.get("check", {})))
                custom = fallback + (f" (missing {missing.group(1)})" if missing else "")
            resource = _RESOURCE_PATH.search(where or "")
            line = None if copy else _guard_line(node)
            if line is None and resource:
                line = template.resource_line(resource.group(1))
            text = custom.strip()
            if resource:
                text = f"{resource.group(1)}: {text}"
            yield text, line
            return
        for value in node.values():
            yield from _guard_checks(value, template, fallback, copy)
    elif isinstance(node, list):
        for value in node:
            yield from _guard_checks(value, template, fallback, copy)


def _guard_where(node) -> str | None:
    text = json.dumps(node.get("check", {}))
    match = re.search(r'"path": "(/Resources/[^"]*)"', text)
    return match.group(1) if match else None


def _guard_line(node) -> int | None:
    messages = node.get("messages") or {}
    for text in (messages.get("error_message") or "", json.dumps(node.get("check", {}))):
        match = _LOCATION.search(text)
        if match and int(match.group(1)) > 0:
            return int(match.group(1)) + 1  # Guard counts lines from 0
    return None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return "(no message)"


# --- Rego -------------------------------------------------------------------------------------


def _run_rego(ws, rules, templates, examples, verdicts) -> list[Finding]:
    try:
        import regorus
    except ImportError:
        return [Finding("policy", "policy:engine-missing", "error", ".", None, None,
                        f"{len(rules)} Rego rule(s) not evaluated: the Rego engine is not "
                        f"installed; {locate.INSTALL_REGO_HINT}")]
    findings: list[Finding] = []
    engine = regorus.Engine()
    loaded: list[RuleFile] = []
    for rule in rules:
        try:
            rule.package = engine.add_policy(str(rule.path), rule.path.read_text(encoding="utf-8"))
        except (RuntimeError, OSError, UnicodeDecodeError) as exc:
            line, msg = _rego_error(str(exc))
            findings.append(Finding("policy", "policy:rego-syntax", "error", _rel(ws, rule.path),
                                    line, None, f"Rego rule file does not parse: {msg}; "
                                                "its rules were not evaluated"))
            continue
        loaded.append(rule)

    def evaluate(template: Template, rule: RuleFile):
        data = template.checked_data if template.checked_data is not None else template.data
        try:
            engine.set_input_json(json.dumps(data, default=str))
            out = json.loads(engine.eval_rule_as_json(f"{rule.package}.deny"))
        except Exception as exc:  # noqa: BLE001 - one template must not stop the others
            # the engine's message can quote the input (the template): only where, never what
            line, _ = _rego_error(str(exc))
            where = f" at {rule.path.name}:{line}" if line else ""
            return None, f"{type(exc).__name__}{where}"
        return (out if isinstance(out, list) else []), None

    for template in templates:
        for rule in loaded:
            denials, error = evaluate(template, rule)
            if error:
                findings.append(Finding("policy", "policy:template-crashed", "error",
                                        template.rel, None, None,
                                        f"Rego rule {rule.name} failed to evaluate on this "
                                        f"template ({error}); the other rules and templates "
                                        "were checked"))
                continue
            for deny in denials:
                resource = deny.get("resource") if isinstance(deny, dict) else None
                message = deny.get("message") if isinstance(deny, dict) else str(deny)
                findings.append(Finding("policy", rule.id, rule.severity, template.rel,
                                        template.resource_line(resource) if resource else None,
                                        None, message or f"denied by {rule.name}"))
    for ex in examples:
        if ex.rule.engine != "rego" or ex.rule not in loaded:
            continue
        denials, error = evaluate(ex.template, ex.rule)
        verdicts[(ex.rule.name, str(ex.template.file.path))] = (
            {ex.rule.name} if (denials or error) else set())
    return findings


def _rego_error(text: str) -> tuple[int | None, str]:
    text = text.split("Stack backtrace:")[0].strip()
    match = re.search(r"-->\s*\S+?:(\d+):(\d+)", text)
    lines = [l.strip() for l in text.splitlines() if l.strip().startswith("error:")]
    message = lines[0][len("error:"):].strip() if lines else _first_line(text)
    return (int(match.group(1)) if match else None), message
