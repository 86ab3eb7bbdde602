"""Text a manifest's author controls, made safe to print: names, values and file names reach
terminals and XML readers, where a control character either rewrites the screen (an escape
sequence in a Pod's name) or makes the whole report unreadable (XML 1.0 allows none of C0 but
tab, newline and carriage return). Each such character is written as Go would quote it."""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls; and for XML, its two non-characters and lone
# surrogates as well.
_TERMINAL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: str) -> str:
    return _TERMINAL.sub(_escape, text)


def for_xml(text: str) -> str:
    return _XML.sub(_escape, text)
