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
from .findings import SEVERITIES, Finding
from .workspace import SourceFile, Template, Workspace, decode_template

_SEVERITY = re.compile(r"^#\s*fleet:severity\s+(error|warning)\s*$", re.M)
_PARAMETER = re.compile(r"^#\s*fleet:parameter\s+([a-z][a-z0-9_]*)\s*$", re.M)
_DIRECTIVE = re.compile(r"^#\s*fleet:")
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
    # `# fleet:parameter <name>` lines: values from fleet.yaml policies.parameters
    parameters: list[str] = field(default_factory=list)
    # cfn-guard's own unit-test file (<rule>_tests.yaml beside it or in tests/): its examples
    guard_tests: Path | None = None

    @property
    def id(self) -> str:
        return f"policy:{self.name}"

    def example(self, expect: str) -> Path:
        """tests/<name>/pass.yaml or fail.yaml beside guard/ and rego/ (may not exist)."""
        return self.examples_dir / f"{expect}.yaml"

    @property
    def examples_dir(self) -> Path:
        return self.rules_dir / "tests" / self.name

    @property
    def rules_dir(self) -> Path:
        # guard/<name>.guard, or deeper (guard/registry/rules/aws/s3/<name>.guard)
        for parent in self.path.parents:
            if parent.name == self.engine:
                return parent.parent
        return self.path.parents[1]


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

    configured = parameters(ws.root)
    params = Parameters(configured, {r.name: _example_parameters(r, configured, ws, findings)
                                     for r in rules if r.parameters})
    for rule in rules:
        missing = [p for p in rule.parameters if p not in configured]
        if missing:
            params.unconfigured.add(rule.name)
            findings.append(Finding(
                "policy", "policy:not-configured", "warning", _rel(ws, rule.path), None, None,
                f"rule {rule.name} is not configured: set policies.parameters."
                f"{', policies.parameters.'.join(missing)} in fleet.yaml; it checked nothing"))

    guard_rules = [r for r in rules if r.engine == "guard"]
    rego_rules = [r for r in rules if r.engine == "rego"]
    verdicts: dict[tuple[str, str], set[str]] = {}  # (rule name, example file) -> failing rules
    if guard_rules:
        findings += _run_guard(ws, guard_rules, templates, examples, verdicts, params)
        findings += _guard_unit_tests(ws, [r for r in guard_rules if r.guard_tests], params)
    if rego_rules:
        findings += _run_rego(ws, rego_rules, templates, examples, verdicts, params)
    findings += _judge_examples(ws, examples, verdicts)
    return findings


CONFIG_NAME = "fleet.yaml"


def parameters(root: Path) -> dict:
    """policies.parameters from <root>/fleet.yaml ({} when absent or unreadable: `fleet check`
    validates the config with the loader before the gates run)."""
    from fleet import yamlsafe

    try:
        data = yamlsafe.load_file(root / CONFIG_NAME).data
    except yamlsafe.YamlInputError:
        return {}
    policies = data.get("policies") if isinstance(data, dict) else None
    values = policies.get("parameters") if isinstance(policies, dict) else None
    return dict(values) if isinstance(values, dict) else {}


@dataclass
class Parameters:
    configured: dict  # fleet.yaml's policies.parameters: what templates are checked with
    examples: dict[str, dict]  # rule name -> parameters its examples run with
    unconfigured: set[str] = field(default_factory=set)  # rules that check no template

    def for_examples(self, rules: list[RuleFile]) -> dict:
        merged = dict(self.configured)
        for rule in rules:
            merged.update(self.examples.get(rule.name, {}))
        return merged


def _example_parameters(rule: RuleFile, configured: dict, ws: Workspace,
                        findings: list[Finding]) -> dict:
    """tests/<rule>/parameters.yaml: the values the rule's examples are judged with, so a rule
    is tested even where it is not configured."""
    from fleet import yamlsafe

    path = rule.examples_dir / "parameters.yaml"
    if not path.is_file():
        return {}
    try:
        data = yamlsafe.load_file(path).data
    except yamlsafe.YamlInputError as exc:
        data = exc
    if not isinstance(data, dict):
        findings.append(Finding("policy", "policy:rule-example-invalid", "error",
                                _rel(ws, path), None, None,
                                f"parameters for {rule.name}'s examples: expected a mapping of "
                                "parameter name to value"))
        return {}
    return data


def _rel(ws: Workspace, path: Path) -> str:
    return os.path.relpath(path, ws.root)


def read_rules(rules_dir: Path) -> tuple[list[RuleFile], list[tuple[Path, str]]]:
    """The rule files under rules_dir, and (path, why) for each one that cannot be read."""
    rules, unreadable = [], []
    for engine, suffix in (("guard", ".guard"), ("rego", ".rego")):
        # recursive: a third-party pack (the AWS Guard Rules Registry) drops in as a folder
        for path in sorted((rules_dir / engine).rglob(f"*{suffix}")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                unreadable.append((path, f"cannot read rule file: {type(exc).__name__}"))
                continue
            match = _SEVERITY.search(text)
            # a rule in a pack folder is named by its path (guard/registry/rules/aws/amazon_rds/
            # rds_storage_encrypted.guard -> registry/rules/aws/amazon_rds/rds_storage_encrypted):
            # packs reuse names, ours among them, and a name picks the rule's examples
            name = path.relative_to(rules_dir / engine).with_suffix("").as_posix()
            rule = RuleFile(engine, name, path, match.group(1) if match else "error",
                            _description(text))
            rule.parameters = _PARAMETER.findall(text)
            if engine == "guard":
                rule.guard_rules = _GUARD_RULE.findall(text)
                rule.guard_tests = _guard_tests(path)
            rules.append(rule)
    return rules, unreadable


def _guard_tests(path: Path) -> Path | None:
    for folder in (path.parent, path.parent / "tests"):
        for suffix in (".yaml", ".yml", ".json"):
            candidate = folder / f"{path.stem}_tests{suffix}"
            if candidate.is_file():
                return candidate
    return None


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
        if not _DIRECTIVE.match(line):
            lines.append(line.lstrip("#").strip())
    return " ".join(lines).split(". ")[0].rstrip(".")


def _load_examples(rules: list[RuleFile], ws: Workspace,
                   findings: list[Finding]) -> list[Example]:
    examples = []
    for rule in rules:
        if rule.guard_tests is not None and not rule.example("pass").is_file() \
                and not rule.example("fail").is_file():
            continue  # cfn-guard's own test file holds its examples (_guard_unit_tests)
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


def _run_guard(ws, rules, templates, examples, verdicts, params) -> list[Finding]:
    binary = locate.cfn_guard_binary()
    if binary is None:
        return [Finding("policy", "policy:engine-missing", "error", ".", None, None,
                        f"{len(rules)} Guard rule(s) not evaluated: cfn-guard not found; "
                        f"{locate.INSTALL_GUARD_HINT}")]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fleet-guard-") as scratch:
        return _run_guard_in(ws, rules, templates, examples, verdicts, binary, Path(scratch),
                             params)


def _run_guard_in(ws, rules, templates, examples, verdicts, binary, scratch: Path, params):
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
    mine = [ex for ex in examples if ex.rule.engine == "guard"]
    example_paths = {str(ex.template.file.path): ex.template for ex in mine}
    active = [r for r in rules if r.name not in params.unconfigured]
    for_examples = params.for_examples(rules)
    if active == rules and for_examples == params.configured:
        passes = [(rules, {**by_path, **example_paths}, params.configured)]
    else:  # templates with the configured values, examples with theirs
        passes = [(active, by_path, params.configured), (rules, example_paths, for_examples)]
    results = []
    for n, (pass_rules, paths, values) in enumerate(passes):
        if not pass_rules or not paths:
            continue
        values_file = None
        if values:
            values_file = scratch / f"parameters-{n}.json"
            values_file.write_text(json.dumps({"parameters": values}))
        got = _guard_call(ws, binary, pass_rules, dict(paths), values_file, findings)
        if got is None:
            return findings
        results += got
    by_path.update(example_paths)
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


def _guard_call(ws, binary, rules, by_path: dict, values_file: Path | None,
                findings: list[Finding]) -> list | None:
    """One cfn-guard validate run; None (with a finding) when it produced no report."""
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
        if values_file is not None:
            args += ["-i", str(values_file)]
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
        return None
    return results if isinstance(results, list) else [results]


def _guard_unit_tests(ws, rules: list[RuleFile], params) -> list[Finding]:
    """Rules that come with cfn-guard's own test file (the AWS Guard Rules Registry's layout):
    `cfn-guard test` judges each case; a case whose expectation is not met is a broken rule."""
    binary = locate.cfn_guard_binary()
    if binary is None or not rules:
        return []
    from concurrent.futures import ThreadPoolExecutor

    def one(rule: RuleFile) -> list[Finding]:
        rel = _rel(ws, rule.guard_tests)
        proc = subprocess.run([str(binary), "test", "-r", str(rule.path), "-t",
                               str(rule.guard_tests), "-o", "json"],
                              capture_output=True, text=True)
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return [Finding("policy", "policy:rule-example-invalid", "error", rel, None, None,
                            f"cfn-guard test could not run {rule.name}'s test file: "
                            f"{_first_line(proc.stderr)}")]
        found = []
        for case in report.get("test_cases", []) if isinstance(report, dict) else []:
            for failed in case.get("failed_rules", []):
                found.append(Finding(
                    "policy", "policy:rule-example-failed", "error", rel, None, None,
                    f"rule {rule.name}: test case {case.get('name', '?')!r} expects "
                    f"{failed.get('name')} {failed.get('expected')}, got "
                    f"{'/'.join(map(str, failed.get('evaluated') or ['?']))}: the rule is broken"))
        return found

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return [f for found in pool.map(one, rules) for f in found]


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


def _run_rego(ws, rules, templates, examples, verdicts, params) -> list[Finding]:
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

    def use(values: dict) -> None:
        engine.clear_data()
        engine.add_data_json(json.dumps({"parameters": values}, default=str))

    use(params.configured)
    for template in templates:
        for rule in loaded:
            if rule.name in params.unconfigured:
                continue
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
                # a rule may grade one denial lower (it cannot know, e.g. a parameter's value)
                severity = deny.get("severity") if isinstance(deny, dict) else None
                line = _path_line(template, deny.get("path") if isinstance(deny, dict) else None)
                if line is None and resource:
                    line = template.resource_line(resource) or template.output_line(resource)
                findings.append(Finding("policy", rule.id,
                                        severity if severity in SEVERITIES else rule.severity,
                                        template.rel, line, None,
                                        message or f"denied by {rule.name}"))
    for ex in examples:
        if ex.rule.engine != "rego" or ex.rule not in loaded:
            continue
        use(params.for_examples([ex.rule]))
        denials, error = evaluate(ex.template, ex.rule)
        errors = [d for d in denials or [] if not (isinstance(d, dict)
                                                   and d.get("severity") == "warning")]
        verdicts[(ex.rule.name, str(ex.template.file.path))] = (
            {ex.rule.name} if (errors or error) else set())
    return findings


def _path_line(template: Template, path) -> int | None:
    """The line of the node a denial's "path" (keys and indexes from the top) points at."""
    if not isinstance(path, list):
        return None
    node = template.checked_data if template.checked_data is not None else template.data
    for step in path:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return None
    return template.line_of(node)


def _rego_error(text: str) -> tuple[int | None, str]:
    text = text.split("Stack backtrace:")[0].strip()
    match = re.search(r"-->\s*\S+?:(\d+):(\d+)", text)
    lines = [l.strip() for l in text.splitlines() if l.strip().startswith("error:")]
    message = lines[0][len("error:"):].strip() if lines else _first_line(text)
    return (int(match.group(1)) if match else None), message
