"""notifyByMessageCenter's parameters, validated into one typed request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError
from ..parameters import MESSAGE_CENTER_PARAMETERS
from .. import bounded
from ..params import as_json, as_line, as_list, as_text, check_length, is_blank, reject_unknown
from .receiving import CHANNELS
from .templates import LANGUAGES, MessageTemplate, RenderedMessage, TemplateBook

__all__ = ["MessageCenterRequest", "parse_message_center_request"]

MAX_ID = 256               # characters in aliuid, eventId and a variable's name
MAX_VARIABLE = 10_000      # characters in one template variable


@dataclass(frozen=True)
class MessageCenterRequest:
    aliuid: str
    event_id: str
    channels: tuple[str, ...]      # requested; empty = every configured channel
    lang: str
    variables: Mapping[str, str]
    template: MessageTemplate

    def render(self) -> RenderedMessage:
        rendered = self.template.render(self.variables)
        # a variable from an upstream node must not break the subject into header lines
        subject = " ".join(rendered.subject.split())
        return RenderedMessage(rendered.event_id, rendered.lang, subject, rendered.body)


def parse_message_center_request(params: Mapping[str, Any], templates: TemplateBook,
                                 default_lang: str) -> MessageCenterRequest:
    reject_unknown(params, MESSAGE_CENTER_PARAMETERS, "notifyByMessageCenter")
    aliuid = _required("aliuid", params.get("aliuid"))
    event_id = _required("eventId", params.get("eventId"))
    lang = as_text("lang", params.get("lang")).strip().lower() or default_lang
    if lang not in LANGUAGES:
        raise ParameterError("lang", f"expected one of {', '.join(LANGUAGES)}, got "
                             f"{bounded.shown(lang)}")
    channels = _channels(params.get("channelTypeList"))
    template = templates.get(event_id, lang)
    variables = _variables(params.get("params"))
    variables.setdefault("aliyunUID", aliuid)  # the templates greet the account by its UID
    request = MessageCenterRequest(aliuid, event_id, channels, lang, variables, template)
    request.render()  # a missing variable is an error now, before anything is sent
    return request


def _required(name: str, value: Any) -> str:
    text = as_line(name, value, limit=MAX_ID)
    if not text:
        raise ParameterError(name, "is required")
    return text


def _channels(value: Any) -> tuple[str, ...]:
    channels: list[str] = []
    for item in as_list("channelTypeList", value):
        channel = as_text("channelTypeList", item).strip().lower()
        if channel not in CHANNELS:
            shown = channel[:40] + ("..." if len(channel) > 40 else "")
            raise ParameterError("channelTypeList", f"{shown!r} is not a channel; expected any "
                                 f"of {', '.join(CHANNELS)} (blank = every configured channel)")
        if channel not in channels:
            channels.append(channel)
    return tuple(channels)


def _variables(value: Any) -> dict[str, str]:
    if is_blank(value):
        return {}
    parsed = as_json("params", value)
    if not isinstance(parsed, Mapping):
        raise ParameterError("params", "expected a JSON object of template variables, e.g. "
                             '{"incidentName": "...", "incidentID": "...", "startTime": "..."}')
    variables = {}
    for name, item in parsed.items():
        key = as_line("params", name, limit=MAX_ID)
        if isinstance(item, (dict, list)):
            raise ParameterError("params", f"variable {key!r} must be text or a number, "
                                 f"got {type(item).__name__}")
        text = "" if item is None else as_text(f"params.{key}", item)
        check_length(f"params.{key}", text, MAX_VARIABLE)
        # line breaks and tabs may stay (the subject folds them into spaces); other control
        # characters would reach the subject header and the SMS / DingTalk text
        char = bounded.control_character(text, allow=bounded.TEXT_WHITESPACE)
        if char is not None:
            raise ParameterError(f"params.{key}", "contains the control character "
                                 f"{bounded.describe_character(char)}")
        variables[key] = text
    return variables
