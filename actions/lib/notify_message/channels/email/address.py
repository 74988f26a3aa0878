"""What an email address is, for every place one is read: recipients, the sender, contacts.

An address goes onto protocol lines (``MAIL FROM``, ``RCPT TO``, the From / To headers), so
it is one line of printable ASCII: ``local@domain`` with a dotted domain, no white space,
quotes, brackets or control characters.  ``Name <local@domain>`` names it for people.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

from ... import bounded

__all__ = ["MAX_ADDRESS", "bare_address", "shown"]

MAX_ADDRESS = 320   # 64 for the local part, 255 for the domain (RFC 5321 4.5.3.1)
_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$", re.ASCII)


def bare_address(text: str) -> str | None:
    """The bare address of ``local@domain`` or ``Name <local@domain>``, or None when the text
    is not one address (a control character anywhere, two addresses, no domain...)."""
    if len(text) > 2 * MAX_ADDRESS or bounded.control_character(text) is not None:
        return None
    _, address = parseaddr(text)
    if len(address) > MAX_ADDRESS or not _ADDRESS.match(address):
        return None
    return address


def shown(text: str) -> str:
    """A refused value as an error may quote it: printable, at most 80 characters."""
    printable = "".join(c if bounded.control_character(c) is None else "?" for c in text[:80])
    return repr(printable) + ("..." if len(text) > 80 else "")
