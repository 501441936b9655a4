"""Read CloudFormation templates (YAML short forms such as !Ref, or JSON) into plain dicts."""

from __future__ import annotations

from pathlib import Path


class TemplateError(ValueError):
    pass


def load_template(body: str, name: str = "<template>") -> dict:
    # cfn-lint's decoder understands every intrinsic short form and reports line numbers; reusing it
    # keeps one CloudFormation parser in the project.
    from cfnlint.decode import cfn_json, cfn_yaml

    try:
        data = cfn_json.loads(body) if body.lstrip().startswith("{") else cfn_yaml.loads(body, name)
    except Exception as exc:
        raise TemplateError(f"{name}: not a readable CloudFormation template ({exc})") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{name}: a CloudFormation template is a mapping at the top level")
    return data


def load_template_file(path: str | Path) -> dict:
    path = Path(path)
    return load_template(path.read_text(encoding="utf-8"), str(path))
