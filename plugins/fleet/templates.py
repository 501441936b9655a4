"""Read CloudFormation templates (YAML short forms such as !Ref, or JSON) into plain dicts."""

from __future__ import annotations

from pathlib import Path


class TemplateError(ValueError):
    pass


def load_template(body: str, name: str = "<template>") -> dict:
    # cfn-lint's decoder understands every intrinsic short form and reports line numbers; reusing it
    # keeps one CloudFormation parser in the project.
    from cfnlint.decode import cfn_json, cfn_yaml

    from fleet import yamlsafe

    try:
        # cfn-lint's decoder is unbounded: the same limits as every other YAML we read come first
        # (JSON is YAML, so a JSON template is checked the same way).
        yamlsafe.check_text(body, name)
    except yamlsafe.YamlInputError as exc:
        raise TemplateError(f"{name}: not a readable CloudFormation template ({exc.reason}"
                            + (f", line {exc.line})" if exc.line else ")")) from None
    try:
        data = cfn_json.loads(body) if body.lstrip().startswith("{") else cfn_yaml.loads(body, name)
    except Exception as exc:
        raise TemplateError(f"{name}: not a readable CloudFormation template ({exc})") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{name}: a CloudFormation template is a mapping at the top level")
    return data


def load_template_file(path: str | Path) -> dict:
    from fleet import yamlsafe

    path = Path(path)
    try:
        text = yamlsafe.read_text(path)
    except yamlsafe.YamlInputError as exc:
        raise TemplateError(f"{path}: not a readable CloudFormation template ({exc.reason})") from None
    return load_template(text, str(path))
