"""notifyByCustom's email parameters (email, receivers, emailTitle, emailcontext; and cc,
bcc, replyTo, emailFormat, attachments, threadKey, emailPerRecipient) and customReceiver's
addresses, validated into one ``EmailRequest``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ...bounded import EDGE
from ...errors import ParameterError
from ...params import (as_flag, as_line, as_list, as_single_line, as_text, check_length,
                       is_blank)
from ...config.entries import default_entry, find_entry, no_such_entry
from .address import named_address, shown
from .config import SmtpInstance
from .message import Attachment, EmailRequest, unique_addresses

__all__ = ["DEFAULT_SUBJECT", "EmailRequest", "parse_email_address", "parse_email_request",
           "EMAIL_FORMATS"]

DEFAULT_SUBJECT = "Security notification"
MAX_RECIPIENTS = 1000        # addresses in one call
MAX_BODY = 1_000_000         # characters of emailcontext
_HTML = re.compile(r"<(html|body|p|div|br|table|tr|td|th|ul|ol|li|a|b|strong|em|h[1-6]|span"
                   r"|pre|img)\b[^<>]*>", re.IGNORECASE)


EMAIL_FORMATS = ("auto", "text", "html")
MAX_THREAD_KEY = 200
_NAMED_LIST = re.compile(r"\s*[,;\r\n]\s*")


def parse_named_address(parameter: str, value: Any) -> tuple[str, str]:
    """One address (``a@b.c`` or ``Name <a@b.c>``): (bare address, display name)."""
    text = as_text(parameter, value).strip(EDGE)
    found = named_address(text)
    if found is None:
        raise ParameterError(parameter, f"{shown(text)} is not an email address (expected "
                             "user@domain or Name <user@domain>, one line of printable text)")
    return found


def parse_email_address(parameter: str, value: Any) -> str:
    """One recipient address (``a@b.c`` or ``Name <a@b.c>``), returned bare."""
    return parse_named_address(parameter, value)[0]


def _address_items(parameter: str, value: Any) -> list[Any]:
    # "Zhang San <zhang@163.com>, b@x.com": a display name has spaces, so a text holding
    # one splits on commas, semicolons and line ends only
    if isinstance(value, str) and "<" in value and not value.strip().startswith(("[", "{")):
        return [part for part in _NAMED_LIST.split(value.strip()) if part]
    return as_list(parameter, value)


def _addresses(parameter: str, value: Any, names: dict[str, str]) -> tuple[str, ...]:
    """The receivers' forms: a list, JSON, comma separated text, {"email": ...} objects."""
    addresses = []
    seen: set[str] = set()
    for i, item in enumerate(_address_items(parameter, value)):
        if isinstance(item, Mapping):  # the component's form: {"userid": -1, "email": "..."}
            if is_blank(item.get("email")):
                raise ParameterError(parameter, f"entry {i} has no 'email' key (keys: "
                                     f"{shown(', '.join(map(str, item)))})")
            item = item["email"]
        address, name = parse_named_address(parameter, item)
        if name:
            names.setdefault(address.lower(), name)
        addresses.append(address)
        seen.add(address.lower())
        if len(seen) > MAX_RECIPIENTS:  # refused anyway: do not read 100000 of them
            raise ParameterError(parameter, f"has more than {MAX_RECIPIENTS} addresses; at "
                                 f"most {MAX_RECIPIENTS} are mailed in one call")
    return unique_addresses(addresses)


def _recipients(value: Any) -> tuple[str, ...]:
    return _addresses("receivers", value, {})


def _select_instance(value: Any, instances: Sequence[SmtpInstance]) -> SmtpInstance | None:
    """The SMTP instance that ``email`` asks for; None when it turns email off."""
    flag = as_flag("email", value)
    if flag is False:
        return None
    if not instances:
        raise ParameterError(
            "email", "no SMTP resource instance is configured: add one under smtp_instances "
            "in the pack config (see the README)")
    if flag is True:
        default = default_entry(instances)
        assert default is not None
        return default
    selector = as_text("email", value)
    instance = find_entry(instances, selector, lambda i, text: i.matches(text))
    if instance is None:
        raise no_such_entry("email", selector, "SMTP instance", instances,
                            "1 / true for the default instance, or an instance's assetname, "
                            "uuid or address")
    return instance


def parse_email_request(params: Mapping[str, Any], instances: Sequence[SmtpInstance],
                        extra_recipients: tuple[str, ...] = ()) -> EmailRequest | None:
    email = params.get("email")
    names: dict[str, str] = {}
    recipients = _addresses("receivers", params.get("receivers"), names)
    if is_blank(email):
        # receivers alone mean "mail them from the default instance"; customReceiver's
        # emails only with a body (its contacts may be there for their phones)
        has_body = not is_blank(params.get("emailcontext"))
        if not recipients and not (extra_recipients and has_body):
            return None
        email = True
    instance = _select_instance(email, instances)
    if instance is None:
        if recipients:
            raise ParameterError("email", "is off (false / 0) but receivers were given; set "
                                 "email to 1 or remove receivers")
        return None
    recipients = unique_addresses((*recipients, *extra_recipients))
    if len(recipients) > MAX_RECIPIENTS:
        raise ParameterError("receivers", f"has {len(recipients)} addresses (with "
                             f"customReceiver's); at most {MAX_RECIPIENTS} are mailed in one "
                             "call")
    if not recipients:
        raise ParameterError("receivers", "is required when email is set: give one or more "
                             "addresses")
    subject = as_single_line("emailTitle", params.get("emailTitle")) or DEFAULT_SUBJECT
    body = check_length("emailcontext", as_text("emailcontext", params.get("emailcontext")),
                        MAX_BODY).strip()
    if not body:
        raise ParameterError("emailcontext", "is required when sending email: give the body text")
    fmt = as_text("emailFormat", params.get("emailFormat")).strip().lower() or "auto"
    if fmt not in EMAIL_FORMATS:
        raise ParameterError("emailFormat", f"expected one of {', '.join(EMAIL_FORMATS)}, got "
                             f"{shown(fmt)}")
    html = bool(_HTML.search(body)) if fmt == "auto" else fmt == "html"
    taken = {a.lower() for a in recipients}
    cc = tuple(a for a in _addresses("cc", params.get("cc"), names) if a.lower() not in taken)
    taken |= {a.lower() for a in cc}
    bcc = tuple(a for a in _addresses("bcc", params.get("bcc"), names)
                if a.lower() not in taken)
    reply_to = _addresses("replyTo", params.get("replyTo"), names)
    total = len(recipients) + len(cc) + len(bcc)
    if total > MAX_RECIPIENTS:
        raise ParameterError("receivers", f"has {total} addresses with cc and bcc; at most "
                             f"{MAX_RECIPIENTS} are mailed in one call")
    attachments: tuple[Attachment, ...] = ()
    if not is_blank(params.get("attachments")):
        from .attachments import parse_attachments
        attachments = parse_attachments(params["attachments"], instance)
    _check_inline(attachments, body, html)
    thread_key = as_line("threadKey", params.get("threadKey"), limit=MAX_THREAD_KEY)
    per_recipient = None
    if not is_blank(params.get("emailPerRecipient")):
        per_recipient = as_flag("emailPerRecipient", params["emailPerRecipient"])
        if per_recipient is None:
            raise ParameterError("emailPerRecipient", "expected true / false (1 / 0): true "
                                 "sends every receiver a message of their own")
    return EmailRequest(instance=instance, recipients=recipients, subject=subject, body=body,
                        html=html, cc=cc, bcc=bcc, reply_to=reply_to, names=names,
                        attachments=attachments, thread_key=thread_key,
                        per_recipient=per_recipient)


_CID = re.compile(r"""cid:([^"'\s)>]+)""", re.IGNORECASE)


def _check_inline(attachments: tuple[Attachment, ...], body: str, html: bool) -> None:
    """Inline images need an HTML body, and every ``cid:`` the HTML shows needs its image."""
    inline = {a.content_id.lower() for a in attachments if a.inline}
    if inline and not html:
        raise ParameterError("attachments", "inline images need an HTML body (emailFormat "
                             "html, or an emailcontext with HTML tags)")
    if html:
        missing = sorted({ref for ref in _CID.findall(body) if ref.lower() not in inline})
        if missing:
            raise ParameterError("emailcontext", f"shows cid:{missing[0]} but no attachment "
                                 "has inline: true with that contentId")
