"""What we know about the mailbox providers the component supports.

The component infers the SMTP server from the sender's domain when ``emailSendServer`` is
blank, and every provider listed here takes implicit TLS on 465.  This module is the one
place that knows those servers and what their refusals mean.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "IMPLICIT_TLS_PORT",
    "SMTP_SERVERS_BY_DOMAIN",
    "ALIBABA_MAIL_ENTERPRISE_SERVER",
    "infer_smtp_host",
    "explain_smtp_reply",
]

IMPLICIT_TLS_PORT = 465
STARTTLS_PORT = 587
BLOCKED_PORT = 25

SMTP_SERVERS_BY_DOMAIN: dict[str, str] = {
    "qq.com": "smtp.qq.com",
    "foxmail.com": "smtp.qq.com",
    "163.com": "smtp.163.com",
    "126.com": "smtp.126.com",
    "gmail.com": "smtp.gmail.com",
    "aliyun.com": "smtp.aliyun.com",
}

# Alibaba Mail enterprise accounts live on the customer's own domain, so the domain says
# nothing about the server; smtp.mxhichina.com is an older alias of the same service.
ALIBABA_MAIL_ENTERPRISE_SERVER = "smtp.qiye.aliyun.com"
ALIBABA_MAIL_ENTERPRISE_ALIASES = ("smtp.qiye.aliyun.com", "smtp.mxhichina.com")


def infer_smtp_host(username: str) -> str | None:
    """The SMTP host for a sender address, or None when the domain is not a known provider."""
    domain = username.rpartition("@")[2].strip().lower()
    return SMTP_SERVERS_BY_DOMAIN.get(domain)


@dataclass(frozen=True)
class _Hint:
    codes: tuple[int, ...]
    text: str


_HINTS = (
    _Hint(
        (535, 526),
        "the server rejected the login for {user}: the password or authorization code is "
        "incorrect or has expired. QQ, NetEase (163/126) and Gmail accept only an authorization "
        "code (app password), not the web login password; generate a new one in the "
        "mailbox settings and store it as emailPassword",
    ),
    _Hint(
        (501, 553),
        "the server refused the sender: QQ and NetEase require the From address to equal "
        "the login ({user}); check that emailUsername is the full mailbox address",
    ),
    _Hint(
        (554,),
        "the server refused the message as spam or policy violation (NetEase answers "
        "'554 DT:SPM'); make the subject and body less like bulk mail, or ask the provider "
        "to lift the block",
    ),
    _Hint(
        (550, 551, 552, 450, 452),
        "the server refused this recipient or mailbox; check the address",
    ),
    _Hint(
        (421, 451, 454),
        "the server failed temporarily; send again later",
    ),
)


def explain_smtp_reply(code: int | None, user: str) -> str | None:
    """An instruction for a failed SMTP reply code, or None when we have nothing to add."""
    if code is None:
        return None
    for hint in _HINTS:
        if code in hint.codes:
            return hint.text.format(user=user)
    return None
