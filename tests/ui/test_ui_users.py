"""`make up` and compose give every approver in the fleet config a UI user of their own, with a
password generated once into the simple auth manager's owner-only file."""

from __future__ import annotations

import json
import re
import stat

import yaml

from fleet_airflow import ui_users
from tests.support import REPO

CONFIG = REPO / "include" / "fleet.yaml"


def test_every_approver_gets_a_user_and_a_password_made_once_owner_only(tmp_path, capsys):
    path = tmp_path / "passwords.json"
    assert ui_users.main(["--config", str(CONFIG), "--passwords", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "admin:admin,platform-lead:user,security-lead:user"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    passwords = json.loads(path.read_text())
    assert set(passwords) == {"admin", "platform-lead", "security-lead"}
    for user, password in passwords.items():
        assert f"UI user {user!r}: password {password}" in err

    # Again: the same passwords, none printed; an approver added later gets one of their own.
    path.chmod(0o644)  # as an earlier `airflow standalone` may have left it
    assert ui_users.main(["--config", str(CONFIG), "--passwords", str(path)]) == 0
    assert "password" not in capsys.readouterr().err
    assert json.loads(path.read_text()) == passwords and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_compose_lists_a_ui_user_per_approver_and_init_checks_it(tmp_path, capsys):
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    setting = compose["x-airflow-common"]["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    default = re.fullmatch(r"\$\{FLEET_UI_USERS:-(.*)\}", setting).group(1)
    assert default == ui_users.users_setting("airflow", ui_users.approver_names(CONFIG))
    init = "\n".join(compose["services"]["airflow-init"]["command"])
    assert "fleet_airflow.ui_users" in init and "--expect" in init

    # A list that lacks an approver stops init with the names.
    code = ui_users.main(["--config", str(CONFIG), "--passwords", str(tmp_path / "p.json"), "--admin", "airflow",
                          "--expect", "airflow:admin,platform-lead:user"])
    assert code == 2 and "no UI user for security-lead" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def test_make_up_creates_the_users_before_airflow_starts():
    up = (REPO / "scripts" / "up.sh").read_text()
    users = up.index("fleet_airflow.ui_users")
    assert users < up.index("/airflow\" standalone") and "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in up
