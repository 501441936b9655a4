"""The YAML shortcut of the secrets scan (secret_scan._yaml_quiet) never changes a result.

detect-secrets' YAML transformer is skipped when the lines libyaml lets us build from a document
are all quiet; these cases hold the shapes where the two parsers' views could differ (comments,
anchors and merge keys, block scalars, escapes, flow mappings, CloudFormation tags, several
documents, keys that are not strings) with secrets that only the transformer finds.
"""

import io

import pytest
from detect_secrets.transformers.yaml import YAMLTransformer

from fleet.gates import secret_scan

# assembled at run time so this file holds no secret-looking literal
DB_VALUE = "Pm4kL9" + "sDf2gHj7Qw1e"
AWS_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLF"

CASES = {
    "unquoted": f"service:\n  db_password: {DB_VALUE}\n",
    "clean template": "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
                      "    Properties: {TopicName: alerts}\n",
    "comment holds the key": f"name: web  # {AWS_KEY}\nport: 80\n",
    "comment elsewhere": f"# header\nuser: admin  # see {AWS_KEY}\npassword: x1\n",
    "anchor and merge": f"base: &b\n  secret: {DB_VALUE}\nprod:\n  <<: *b\n  size: 2\n",
    "literal block": f"script: |\n  export TOKEN={DB_VALUE}\n  run\n",
    "folded block": f"note: >\n  the password is\n  {DB_VALUE}\n",
    "escapes": f'api_key: "\\x41KIA{AWS_KEY[4:]}"\nq: "say \\"hi\\""\n',
    "flow mapping": f"db: {{user: app, password: {DB_VALUE}}}\n\nnext: 1\n",
    "cloudformation tags": f"Resources:\n  A:\n    Properties:\n      Name: !Ref X\n"
                           f"      Password: {DB_VALUE}\n",
    "two documents": f"a: 1\n---\npassword: {DB_VALUE}\n",
    "int and bool keys": f"1: {DB_VALUE}\ntrue: {DB_VALUE}x\n",
    "list of strings": f"keys:\n  - {AWS_KEY}\n  - plain\n",
    "empty": "",
    "only comments": f"# token {AWS_KEY}\n",
    "binary": "blob: !!binary aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8=\n",
    "bad yaml": f"a: [1, 2\npassword: {DB_VALUE}\n",
}
# the cases whose secret only the transformer's quoting or the comment handling reveals
FOUND = {"unquoted", "comment holds the key", "comment elsewhere", "anchor and merge", "escapes",
         "flow mapping", "two documents", "bad yaml", "cloudformation tags"}


@pytest.fixture(scope="module", autouse=True)
def configured():
    secret_scan.configure(None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_shortcut_finds_what_the_transformer_finds(name, monkeypatch):
    data = CASES[name].encode()
    fast = secret_scan.scan_content("config.yaml", data)
    monkeypatch.setattr(secret_scan, "_yaml_quiet", lambda *_: False)
    secret_scan._QUIET.clear()
    slow = secret_scan.scan_content("config.yaml", data)
    assert fast == slow
    assert bool(fast) == (name in FOUND)


@pytest.mark.parametrize("name", sorted(CASES))
def test_lines_built_with_libyaml_cover_the_transformers(name):
    text = CASES[name]
    handle = io.StringIO(text)
    handle.name = "config.yaml"
    try:
        real = YAMLTransformer().parse_file(handle)
    except Exception:  # noqa: BLE001 - the scan falls back to raw lines, which the shortcut covers
        return
    built = secret_scan._yaml_value_lines(text)
    if built is None:
        return  # the shortcut steps aside
    assert {line.rstrip() for line in real} - {line.rstrip() for line in built} - {""} == set()


def test_a_clean_template_takes_the_shortcut_and_a_secret_does_not():
    assert secret_scan._yaml_quiet("t.yaml", CASES["clean template"])
    assert not secret_scan._yaml_quiet("c.yaml", CASES["unquoted"])
    assert not secret_scan._yaml_quiet("c.txt", CASES["clean template"])  # not YAML by name


def test_a_pool_of_workers_finds_what_one_process_finds():
    # versions of a few files, a secret in some: more than the pool's threshold of 48
    items = []
    for n in range(120):
        body = f"name: app{n % 7}\nport: {8000 + n}\n"
        if n % 17 == 0:
            body += f"db_password: {DB_VALUE}{n}\n"
        items.append((f"k{n}", f"config/app{n % 5}.yaml", body.encode()))
    alone = secret_scan.scan_many(items, None, workers=1)
    pooled = secret_scan.scan_many(items, None, workers=3)
    assert pooled == alone
    assert sum(1 for hits in alone.values() if hits) == len(range(0, 120, 17))
