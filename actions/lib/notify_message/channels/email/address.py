"""What an email address is, for every place one is read: recipients, the sender, contacts.

An address goes onto protocol lines (``MAIL FROM``, ``RCPT TO``, the From / To headers), so
it is one line of printable text: ``local@domain`` with a dotted domain, no white space,
quotes, brackets or control characters.  ``Name <local@domain>`` names it for people.  The
domain may be internationalised (``用户@例子.中国``): the envelope carries it as IDNA
(``xn--...``); a non-ASCII local part needs a server that offers SMTPUTF8 (RFC 6531).
"""

from __future__ import annotations

import re
from email.utils import parseaddr

from ... import bounded

__all__ = ["MAX_ADDRESS", "bare_address", "named_address", "shown", "envelope_address",
           "needs_smtputf8"]

MAX_ADDRESS = 320   # 64 for the local part, 255 for the domain (RFC 5321 4.5.3.1)
_LOCAL = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+$")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$", re.ASCII)


def _ascii_domain(domain: str) -> str | None:
    """The domain as DNS and the envelope spell it (IDNA for a non-ASCII one), or None."""
    if domain.isascii():
        return domain if _DOMAIN.match(domain) else None
    try:
        encoded = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return encoded if _DOMAIN.match(encoded) else None


def named_address(text: str) -> tuple[str, str] | None:
    """(bare address, display name) of ``local@domain`` or ``Name <local@domain>``, or None
    when the text is not one address (a control character anywhere, two addresses...)."""
    if len(text) > 2 * MAX_ADDRESS or bounded.control_character(text) is not None:
        return None
    name, address = parseaddr(text)
    local, at, domain = address.rpartition("@")
    if len(address) > MAX_ADDRESS or not at or not _LOCAL.match(local) or len(local) > 64 \
            or _ascii_domain(domain) is None:
        return None
    if text.count("@") != 1 and "<" not in text:
        return None
    return address, name.strip()


def bare_address(text: str) -> str | None:
    """The bare address of ``local@domain`` or ``Name <local@domain>``, or None."""
    found = named_address(text)
    return found[0] if found else None


def envelope_address(address: str) -> str:
    """The address as MAIL FROM / RCPT TO carry it: the domain in IDNA."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{_ascii_domain(domain) or domain}"


def needs_smtputf8(address: str) -> bool:
    """A non-ASCII local part: only a server offering SMTPUTF8 can take it."""
    return not address.rpartition("@")[0].isascii()


def shown(text: str) -> str:
    """A refused value as an error may quote it: printable, at most 80 characters."""
    printable = "".join(c if bounded.control_character(c) is None else "?" for c in text[:80])
    return repr(printable) + ("..." if len(text) > 80 else "")
