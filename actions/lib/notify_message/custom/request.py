"""notifyByCustom's parameters, validated into one typed request before anything is sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..channels.dingtalk.message import DingTalkRequest
from ..channels.dingtalk.request import parse_dingtalk_request
from ..channels.email.request import EmailRequest, parse_email_address, parse_email_request
from ..channels.phone.message import SmsRequest, VoiceRequest
from ..channels.phone.request import parse_phone_requests
from ..config.pack import PackConfig
from ..errors import ParameterError
from ..parameters import CUSTOM_PARAMETERS
from ..params import reject_unknown
from .input import apply_json_input, parse_custom_receiver

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
    reject_unknown(params, CUSTOM_PARAMETERS, "notifyByCustom")
    params, from_json_input = apply_json_input(params, CUSTOM_PARAMETERS)
    try:
        return _parse(params, config)
    except ParameterError as exc:
        if exc.parameter in from_json_input:  # say where the bad value really came from
            raise ParameterError(f"jsonInput.{exc.parameter}", exc.problem) from None
        raise


def _parse(params: Mapping[str, Any], config: PackConfig) -> CustomRequest:
    extra = parse_custom_receiver(params.get("customReceiver"), parse_email_address)
    email = parse_email_request(params, config.smtp_instances, extra.emails)
    sms, voice = parse_phone_requests(params, config, extra.phones)
    dingtalk = parse_dingtalk_request(params, config.dingtalk, extra.robots)
    if email is None and sms is None and voice is None and dingtalk is None:
        raise ParameterError(
            "receivers", "nothing to send: give receivers (with email), telephone (with sms or "
            "telephonecontext), dingding / dingdingWebhooks, or customReceiver")
    return CustomRequest(email=email, sms=sms, voice=voice, dingtalk=dingtalk)
