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

    is_json = body.lstrip().startswith("{")
    try:
        # The project's bounds first (size; for YAML also depth, aliases, duplicate keys: JSON has
        # no aliases, and its tab indentation is not YAML).
        yamlsafe.decode(body.encode("utf-8", "surrogatepass"), name) if is_json else yamlsafe.compose(body, name)
    except yamlsafe.YamlError as exc:
        raise TemplateError(str(exc)) from None
    try:
        data = cfn_json.loads(body) if is_json else cfn_yaml.loads(body, name)
    except Exception as exc:
        raise TemplateError(f"{name}: not a readable CloudFormation template ({exc})") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{name}: a CloudFormation template is a mapping at the top level")
    return data


def load_template_file(path: str | Path) -> dict:
    from fleet import yamlsafe

    path = Path(path)
    try:
        return load_template(yamlsafe.read_text(path), str(path))
    except yamlsafe.YamlError as exc:
        raise TemplateError(str(exc)) from None
