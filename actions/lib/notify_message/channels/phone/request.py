"""telephone, telephonecontext, sms and smscontext -> an SMS request and a voice request.

How the component's four phone parameters are read (the README says the same):

- ``telephone``: the numbers (and customReceiver's phones).
- ``sms``: ``1`` / ``true`` texts them with the default SMS profile, a profile name with
  that profile, ``0`` / ``false`` sends no SMS.  Blank means "on" when ``smscontext`` is
  given, or when ``telephonecontext`` is given and the profile has no voice template.
- ``smscontext``: the SMS text; blank falls back to ``telephonecontext``.
- ``telephonecontext``: what a voice call reads out.  Calls are placed only when the profile
  has a ``voice`` template; without one, it is SMS text (the component documents it so).

Landlines are called but never texted; numbers outside mainland China are texted but never
called (Alibaba's voice service calls mainland numbers only).  A number that no requested
channel can reach is refused before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ...config.pack import PackConfig
from ...config.entries import default_entry, find_entry, no_such_entry
from ...errors import ParameterError
from ...params import as_flag, as_list, as_text, check_length, is_blank
from .message import SmsRequest, VoiceRequest
from .numbers import (
    INTERNATIONAL,
    LANDLINE_CN,
    MOBILE_CN,
    PhoneNumber,
    parse_phone,
    unique_numbers,
)
from .profiles import SmsProfile

__all__ = ["parse_phones", "parse_phone_requests", "SMS_KINDS", "VOICE_KINDS",
           "TTS_PARAM_LIMIT"]

SMS_KINDS = (MOBILE_CN, INTERNATIONAL)
VOICE_KINDS = (MOBILE_CN, LANDLINE_CN)
MAX_NUMBERS = 5000      # numbers in one call (SendSms takes 1000 a request)
MAX_TEXT = 1000         # characters of smscontext or telephonecontext
TTS_PARAM_LIMIT = 250   # SingleCallByTts: TtsParam must be shorter than this many characters
# a list of numbers in text: not spaces, "+86 138 0013 8000" is one number
_TEXT_SEPARATORS = re.compile(r"[,;，；\n]+")


def parse_phones(parameter: str, value: Any) -> tuple[PhoneNumber, ...]:
    """A list of numbers (array, JSON array, or text separated by commas, semicolons or new
    lines), validated and without duplicates (``+86 138...`` and ``138...`` are one)."""
    if is_blank(value):
        return ()
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        text = as_text(parameter, value).strip()
        items: list[Any] = (as_list(parameter, text) if text[:1] in "[{"
                            else [part for part in _TEXT_SEPARATORS.split(text) if part.strip()])
    else:
        items = as_list(parameter, value)
    return unique_numbers(parse_phone(parameter, item) for item in items)


def parse_phone_requests(params: Mapping[str, Any], config: PackConfig,
                         extra_numbers: Sequence[PhoneNumber] = ()
                         ) -> tuple[SmsRequest | None, VoiceRequest | None]:
    telephone = parse_phones("telephone", params.get("telephone"))
    numbers = unique_numbers((*telephone, *extra_numbers))
    sms_value = params.get("sms")
    sms_text = check_length("smscontext", as_text("smscontext", params.get("smscontext")),
                            MAX_TEXT).strip()
    call_text = check_length("telephonecontext",
                             as_text("telephonecontext", params.get("telephonecontext")),
                             MAX_TEXT).strip()
    sms_flag = None if is_blank(sms_value) else as_flag("sms", sms_value)
    sms_unset = is_blank(sms_value) or sms_flag is False
    if sms_unset and not (telephone or sms_text or call_text):
        # nothing asks for SMS or voice (customReceiver's phones alone do not)
        return None, None
    if sms_flag is False and sms_text:
        raise ParameterError("sms", "is off (false / 0) but smscontext was given; set sms to 1 "
                             "or remove smscontext")
    profile = _select_profile(sms_value, sms_flag, config)
    voice = profile.voice
    calls = bool(call_text) and voice is not None
    if sms_flag is None and is_blank(sms_value):
        texts = bool(sms_text) or (bool(call_text) and voice is None)
    else:
        texts = sms_flag is not False
        if not texts and call_text and voice is None:
            raise ParameterError("telephonecontext", f"asks for a voice call, but SMS profile "
                                 f"{profile.name!r} has no voice template (sms_profiles[].voice"
                                 ".tts_code in the pack config), and sms is off")
    if not texts and not calls:
        raise ParameterError("telephone", "numbers were given but nothing to send them: set sms "
                             "to 1 with smscontext, or give telephonecontext for a voice call")
    if len(numbers) > MAX_NUMBERS:
        raise ParameterError("telephone", f"has {len(numbers)} numbers (with customReceiver's); "
                             f"at most {MAX_NUMBERS} are texted or called in one call")
    if not numbers:
        raise ParameterError("telephone", "is required for SMS and voice: give one or more "
                             "phone numbers (or phones in customReceiver)")
    if texts and not (sms_text or call_text):
        raise ParameterError("smscontext", "is required when sms is set: give the SMS text")
    _check_reachable(numbers, texts, calls)
    account = config.aliyun
    assert account is not None  # PackConfig refuses sms_profiles without aliyun
    sms = (SmsRequest(account, profile, tuple(n for n in numbers if n.kind in SMS_KINDS),
                      sms_text or call_text) if texts else None)
    call = None
    if calls:
        assert voice is not None
        tts = voice.tts_json(call_text)
        if len(tts) >= TTS_PARAM_LIMIT:
            raise ParameterError("telephonecontext", f"is too long for a voice call: TtsParam "
                                 f"would be {len(tts)} characters and Alibaba Cloud takes fewer "
                                 f"than {TTS_PARAM_LIMIT}; shorten it by "
                                 f"{len(tts) - TTS_PARAM_LIMIT + 1} characters")
        call = VoiceRequest(account, voice, tuple(n for n in numbers if n.kind in VOICE_KINDS),
                            call_text)
    # a channel left without a number it can reach (all landlines, say) is dropped; every
    # number reaches at least one requested channel (checked above)
    return (sms if sms and sms.numbers else None), (call if call and call.numbers else None)


def _select_profile(value: Any, flag: bool | None, config: PackConfig) -> SmsProfile:
    if not config.sms_profiles:
        raise ParameterError("sms", "no SMS profile is configured: add aliyun and sms_profiles "
                             "to the pack config (see the README)")
    if flag is not None or is_blank(value):
        default = default_entry(config.sms_profiles)
        assert default is not None
        return default
    profile = find_entry(config.sms_profiles, as_text("sms", value))
    if profile is None:
        raise no_such_entry("sms", as_text("sms", value).strip(), "SMS profile",
                            config.sms_profiles, "1 / true for the default profile, 0 / false "
                            "for none")
    return profile


def _check_reachable(numbers: Sequence[PhoneNumber], texts: bool, calls: bool) -> None:
    kinds = (SMS_KINDS if texts else ()) + (VOICE_KINDS if calls else ())
    for number in numbers:
        if number.kind not in kinds:
            channels = " and ".join(c for c, on in (("SMS", texts), ("voice", calls)) if on)
            why = ("a landline cannot receive SMS" if number.kind == LANDLINE_CN
                   else "Alibaba Cloud voice calls mainland China numbers only")
            raise ParameterError("telephone", f"{number.display} cannot be reached by "
                                 f"{channels}: {why}")
