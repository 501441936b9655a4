"""The cleansing round trip on a local bare remote: a secret three commits deep on two branches."""

from fleet.gates import run_gates
from fleet.gates.cleanse import cleanse

from .conftest import AWS_KEY, commit_all, git, init_repo, secret_line


def test_cleanse_rewrites_remote_and_rescan_is_clean(tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = init_repo(tmp_path / "work")
    (work / "template.yaml").write_text("Resources: {}\n")
    commit_all(work, "c1")
    (work / "settings.py").write_text("region = 'us-east-1'\n" + secret_line())
    commit_all(work, "c2 secret")
    (work / "settings.py").write_text("region = 'eu-west-1'\n" + secret_line())
    commit_all(work, "c3")
    (work / "settings.py").write_text("region = 'eu-west-1'\n")
    commit_all(work, "c4 removes the secret")
    (work / "README.md").write_text("docs\n")
    commit_all(work, "c5")  # the secret now sits three commits below main's tip
    git(work, "checkout", "-q", "-b", "release", "HEAD~2")  # second branch still reaches it
    (work / "CHANGELOG").write_text("1.0\n")
    commit_all(work, "release notes")
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "main", "release")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    report = run_gates(clone, gates={"secrets"}, cache_dir=tmp_path / "c1")
    assert not report.ok and report.purge_plan
    plan = report.purge_plan
    assert AWS_KEY not in str(plan)

    result = cleanse(str(remote), plan)
    assert result.ok and result.remaining_findings == 0
    assert result.replaced_hashes == [s["hashed_secret"] for s in plan["secrets"]]

    # the remote itself holds no object with the key any more, on any branch
    assert AWS_KEY not in git(remote, "log", "--all", "-p")
    assert set(git(remote, "for-each-ref", "--format=%(refname:short)").split()) >= {"main",
                                                                                    "release"}
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(remote), str(fresh))
    assert run_gates(fresh, gates={"secrets"}, cache_dir=tmp_path / "c2").ok


def _remote_with_secret(tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = init_repo(tmp_path / "work")
    (work / "settings.py").write_text("region = 'us-east-1'\n" + secret_line())
    commit_all(work, "secret")
    (work / "settings.py").write_text("region = 'us-east-1'\n")
    commit_all(work, "removed")
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "main")
    return remote, work


def test_cleanse_without_push_rewrites_nothing_on_the_remote(tmp_path):
    from fleet import cli

    remote, _ = _remote_with_secret(tmp_path)
    before = git(remote, "rev-parse", "main")
    assert cli.main(["cleanse", "--remote", str(remote)]) == 0  # the fresh rescan is the plan
    assert git(remote, "rev-parse", "main") == before and AWS_KEY in git(remote, "log", "--all", "-p")


def test_cleanse_refuses_when_the_rescan_finds_a_secret_the_plan_does_not_name(tmp_path):
    import json

    from fleet import cli

    remote, _ = _remote_with_secret(tmp_path)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    plan = run_gates(clone, gates={"secrets"}, cache_dir=tmp_path / "c").purge_plan
    stale = {**plan, "secrets": [{**plan["secrets"][0], "hashed_secret": "0" * 40}]}  # names another secret
    (tmp_path / "plan.json").write_text(json.dumps(stale))
    before = git(remote, "rev-parse", "main")
    assert cli.main(["cleanse", "--remote", str(remote), "--plan", str(tmp_path / "plan.json"), "--push"]) == 1
    assert git(remote, "rev-parse", "main") == before and AWS_KEY in git(remote, "log", "--all", "-p")
