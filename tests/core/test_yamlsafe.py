"""The one bounded YAML reader: hostile documents are refused quickly with the file and the line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fleet import yamlsafe
from fleet.config import ConfigError, load_config
from fleet.templates import TemplateError, load_template_file

REPO = Path(__file__).resolve().parents[2]
SAMPLE = (REPO / "include" / "fleet.yaml").read_text()

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def refused(text: str | bytes, tmp_path: Path) -> ConfigError:
    path = tmp_path / "fleet.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert time.monotonic() - started < 5
    (problem,) = err.value.problems
    assert problem.file == str(path)
    return err.value


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    err = refused(BOMB, tmp_path)
    assert "aliases expanded" in str(err)


def test_a_few_shared_anchors_still_load():
    data, _ = yamlsafe.load("base: &b {x: 1}\none: *b\ntwo: *b\n", "t.yaml")
    assert data["two"] == {"x": 1}


def test_deep_nesting_is_refused_with_its_line(tmp_path):
    err = refused("a: " + "[" * 100_000 + "]" * 100_000 + "\n", tmp_path)
    assert f"nested at most {yamlsafe.MAX_DEPTH} deep" in str(err) and err.problems[0].line == 1
    err = refused("top:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 80)) + "  " * 80 + "v: 1\n", tmp_path)
    assert err.problems[0].line is not None


def test_a_big_file_is_refused_without_parsing_it(tmp_path):
    err = refused("# " + "x" * (50 * 1024 * 1024) + "\n", tmp_path)
    assert f"at most {yamlsafe.MAX_BYTES} bytes" in str(err)


def test_binary_and_latin1_files_are_refused_with_the_line(tmp_path):
    err = refused(b"organization:\n  name: caf\xe9\n", tmp_path)
    assert "UTF-8" in str(err) and err.problems[0].line == 2
    err = refused(b"a: 1\n\x00\x01\x02", tmp_path)
    assert "NUL byte" in str(err) and err.problems[0].line == 2


def test_a_duplicate_key_is_refused_naming_both_lines(tmp_path):
    text = SAMPLE.replace("organization:\n", "organization:\n  management_account: \"999999999999\"\n", 1)
    err = refused(text, tmp_path)
    first = next(i for i, line in enumerate(text.splitlines(), 1) if "management_account" in line)
    assert f"'management_account' appears again (first on line {first})" in str(err)
    assert err.problems[0].line > first


def test_templates_go_through_the_same_bounds(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("Resources:\n  A: {Type: AWS::SNS::Topic}\n  A: {Type: AWS::SQS::Queue}\n")
    with pytest.raises(TemplateError, match=r"t.yaml:3: each key once"):
        load_template_file(path)
    path.write_text(BOMB)
    with pytest.raises(TemplateError, match="aliases expanded"):
        load_template_file(path)
    path.write_text("Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties: {TopicName: !Ref AWS::StackName}\n")
    assert load_template_file(path)["Resources"]["T"]["Type"] == "AWS::SNS::Topic"
