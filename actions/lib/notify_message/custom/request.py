"""notifyByCustom's parameters, validated into one typed request before anything is sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..channels.email.request import EmailRequest, parse_email_address, parse_email_request
from ..config.pack import PackConfig
from ..errors import ParameterError
from ..parameters import ACTION_PARAMETERS
from ..params import is_blank, reject_unknown
from .json_input import apply_json_input

if TYPE_CHECKING:
    from ..channels.dingtalk.message import DingTalkRequest
    from ..channels.phone.message import SmsRequest, VoiceRequest
    from ..channels.phone.numbers import PhoneNumber

# the parameters that ask for each channel: its parser is imported only when one is given
_PHONE = ("telephone", "telephonecontext", "sms", "smscontext")
_DINGTALK = ("dingding", "dingdingWebhooks", "dingdingcontext")

__all__ = ["CustomRequest", "parse_custom_request"]


@dataclass(frozen=True)
class CustomRequest:
    email: EmailRequest | None = None
    sms: SmsRequest | None = None
    voice: VoiceRequest | None = None
    dingtalk: DingTalkRequest | None = None

    def secrets(self) -> list[str]:
        """Credentials that came with the parameters, to be kept out of the result."""
        return self.dingtalk.secrets() if self.dingtalk is not None else []


def parse_custom_request(params: Mapping[str, Any], config: PackConfig) -> CustomRequest:
    """Validate every parameter of notifyByCustom; raises ParameterError on the first bad one."""
    known = ACTION_PARAMETERS["notifyByCustom"]  # the component's 14 and the email extras
    reject_unknown(params, known, "notifyByCustom")
    params, from_json_input = apply_json_input(params, known)
    try:
        return _parse(params, config)
    except ParameterError as exc:
        if exc.parameter in from_json_input:  # say where the bad value really came from
            raise ParameterError(f"jsonInput.{exc.parameter}", exc.problem) from None
        raise


def _parse(params: Mapping[str, Any], config: PackConfig) -> CustomRequest:
    emails: tuple[str, ...] = ()
    phones: tuple[PhoneNumber, ...] = ()
    robots: tuple[str, ...] = ()
    if not is_blank(params.get("customReceiver")):
        from .receivers import parse_custom_receiver
        extra = parse_custom_receiver(params["customReceiver"], parse_email_address)
        emails, phones, robots = extra.emails, extra.phones, extra.robots
    email = parse_email_request(params, config.smtp_instances, emails)
    sms = voice = dingtalk = None
    if any(not is_blank(params.get(name)) for name in _PHONE):
        from ..channels.phone.request import parse_phone_requests
        sms, voice = parse_phone_requests(params, config, phones)
    if robots or any(not is_blank(params.get(name)) for name in _DINGTALK):
        from ..channels.dingtalk.request import parse_dingtalk_request
        dingtalk = parse_dingtalk_request(params, config.dingtalk, robots)
    if email is None and sms is None and voice is None and dingtalk is None:
        raise ParameterError(
            "receivers", "nothing to send: give receivers (with email), telephone (with sms or "
            "telephonecontext), dingding / dingdingWebhooks, or customReceiver")
    return CustomRequest(email=email, sms=sms, voice=voice, dingtalk=dingtalk)
