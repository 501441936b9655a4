"""Gate `lint`: cfn-lint over every template, yamllint over the other YAML (the fleet config).

Both run through their Python APIs in this process: cfn-lint's rules are loaded once and applied
to each decoded template, which is what makes 200 templates take seconds rather than minutes of
process start-up.
"""

from __future__ import annotations

from pathlib import Path

from . import locate
from .findings import Finding
from .workspace import Workspace

CFNLINT_FILES = (".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml")
YAMLLINT_FILES = (".yamllint", ".yamllint.yaml", ".yamllint.yml")
_DROP_KEYS = {"templates", "output_file", "format", "ignore_templates"}


class LintConfigError(ValueError):
    """A settings file the linters cannot use (a usage error: exit 2)."""


def run(ws: Workspace) -> list[Finding]:
    findings: list[Finding] = []
    findings += _cfn_lint(ws)
    findings += _yamllint(ws)
    return findings


def cfnlint_args(root: Path) -> dict:
    from cfnlint.config import ConfigFileArgs

    path = locate.settings_file(root, CFNLINT_FILES)
    if path is None:
        return {"regions": ["us-east-1"]}
    try:
        args = dict(ConfigFileArgs(config_file=path).file_args)
    except Exception as exc:  # jsonschema / yaml errors: name the file, not a traceback
        raise LintConfigError(f"{path}: not a valid cfn-lint settings file: {exc}") from None
    return {k: v for k, v in args.items() if k not in _DROP_KEYS}


def _cfn_lint(ws: Workspace) -> list[Finding]:
    findings = [
        Finding("lint", "lint:E0000", "error", t.rel, t.parse_error[0], None, t.parse_error[1])
        for t in ws.templates if t.parse_error
    ]
    good = [t for t in ws.templates if t.data is not None]
    if not good:
        return findings

    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner, run_template_by_data

    config = ConfigMixIn(**cfnlint_args(ws.root))
    rules = Runner(config).rules  # loaded once, applied to every template
    for template in good:
        try:
            matches = list(run_template_by_data(template.data, config, rules))
        except Exception as exc:  # a cfn-lint bug on one template must not hide the others
            findings.append(Finding("lint", "lint:cfn-lint-crashed", "error", template.rel, None,
                                    None, f"cfn-lint failed on this template: {type(exc).__name__}"))
            continue
        for m in matches:
            severity = "error" if m.rule.severity == "error" else "warning"
            findings.append(Finding("lint", f"lint:{m.rule.id}", severity, template.rel,
                                    m.linenumber or None, None, m.message))
    return findings


def _yamllint(ws: Workspace) -> list[Finding]:
    files = ws.yaml_configs()
    if not files:
        return []
    from yamllint import linter
    from yamllint.config import YamlLintConfig, YamlLintConfigError

    path = locate.settings_file(ws.root, YAMLLINT_FILES)
    try:
        conf = YamlLintConfig(file=str(path)) if path else YamlLintConfig("extends: default")
    except YamlLintConfigError as exc:
        raise LintConfigError(f"{path}: not a valid yamllint settings file: {exc}") from None

    findings = []
    for f in files:
        try:
            text = f.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            findings.append(Finding("lint", "lint:yamllint/unreadable", "error", f.rel, None, None,
                                    f"cannot read as UTF-8 YAML: {type(exc).__name__}"))
            continue
        if conf.is_file_ignored(f.rel):
            continue
        for problem in linter.run(text, conf, f.rel):
            severity = "error" if problem.level == "error" else "warning"
            findings.append(Finding("lint", f"lint:yamllint/{problem.rule or 'syntax'}", severity,
                                    f.rel, problem.line, None, problem.desc))
    return findings
