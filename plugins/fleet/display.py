"""Text from outside shown in our output: file names, messages, reasons."""

from __future__ import annotations

import unicodedata


def escape(text: str) -> str:
    """Control and format characters (newlines, ANSI escapes, bidi overrides) as visible escapes,
    so a file name or message cannot forge or hide output lines."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " or unicodedata.category(ch) not in (
        "Cc", "Cf", "Zl", "Zp") else ch.encode("unicode_escape").decode("ascii") for ch in text)
