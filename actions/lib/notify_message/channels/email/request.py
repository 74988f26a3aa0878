"""notifyByCustom's email parameters (email, receivers, emailTitle, emailcontext) and
customReceiver's addresses, validated into one ``EmailRequest``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ...bounded import EDGE
from ...errors import ParameterError
from ...params import as_flag, as_list, as_single_line, as_text, check_length, is_blank
from ...config.entries import default_entry, find_entry, no_such_entry
from .address import bare_address, shown
from .config import SmtpInstance
from .message import EmailRequest, unique_addresses

__all__ = ["DEFAULT_SUBJECT", "EmailRequest", "parse_email_address", "parse_email_request"]

DEFAULT_SUBJECT = "Security notification"
MAX_RECIPIENTS = 1000        # addresses in one call
MAX_BODY = 1_000_000         # characters of emailcontext
_HTML = re.compile(r"<(html|body|p|div|br|table|tr|td|ul|ol|li|a|b|strong|em|h[1-6]|span|pre)\b"
                   r"[^<>]*>", re.IGNORECASE)


def parse_email_address(parameter: str, value: Any) -> str:
    """One recipient address (``a@b.c`` or ``Name <a@b.c>``), returned bare."""
    text = as_text(parameter, value).strip(EDGE)
    address = bare_address(text)
    if address is None:
        raise ParameterError(parameter, f"{shown(text)} is not an email address (expected "
                             "user@domain, one line of printable text)")
    return address


def _recipients(value: Any) -> tuple[str, ...]:
    addresses = []
    for i, item in enumerate(as_list("receivers", value)):
        if isinstance(item, Mapping):  # the component's form: {"userid": -1, "email": "..."}
            if is_blank(item.get("email")):
                raise ParameterError("receivers", f"entry {i} has no 'email' key (keys: "
                                     f"{shown(', '.join(map(str, item)))})")
            item = item["email"]
        addresses.append(parse_email_address("receivers", item))
    return unique_addresses(addresses)


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
    recipients = _recipients(params.get("receivers"))
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
    return EmailRequest(instance=instance, recipients=recipients, subject=subject, body=body,
                        html=bool(_HTML.search(body)))
