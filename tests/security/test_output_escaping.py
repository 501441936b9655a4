"""Names and reasons from outside cannot forge output lines: control characters are escaped."""

from __future__ import annotations

from fleet import report
from fleet.display import escape


def test_escape_makes_control_characters_visible():
    assert escape("templates/x\n[secrets] ok \x1b[32mPASS\u202e") == "templates/x\\n[secrets] ok \\x1b[32mPASS\\u202e"
    assert escape("plain name.yaml") == "plain name.yaml"


def test_the_text_report_escapes_reasons_and_account_names():
    doc = report.build("run-1", {"digest": "d" * 64, "commit": "c" * 40},
                       {"build": {"status": "failed", "summary": "1 error",
                                  "reason": "templates/evil\nprod       success    all deployed\x1b[0m"}})
    text = report.to_text(doc)
    assert "\x1b" not in text and "evil\\nprod" in text
    assert not any(line.startswith("prod       success") for line in text.splitlines())
