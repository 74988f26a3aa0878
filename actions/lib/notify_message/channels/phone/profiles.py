"""The ``sms_profiles`` section of the pack config: what an SMS (and a voice call) says.

A profile names an approved SMS signature and template of the Alibaba Cloud account in the
``aliyun`` section, and the template variable that carries the notification text; with a
``voice`` block it also names an approved text-to-speech template, so that ``telephone``
numbers are called as well.  ``sms=<name>`` selects a profile; ``sms=1`` the default one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...errors import ConfigError

if TYPE_CHECKING:  # config.py imports this module
    from ...config.reader import ConfigReader

__all__ = ["VoiceTemplate", "SmsProfile", "parse_sms_profiles", "template_json",
           "default_profile", "PLAY_TIMES_RANGE", "VOLUME_RANGE", "SPEED_RANGE"]

# SingleCallByTts (Dyvmsapi 2017-05-25) ranges
PLAY_TIMES_RANGE = (1, 3)
VOLUME_RANGE = (0, 100)
SPEED_RANGE = (-500, 500)
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def template_json(variables: Mapping[str, str]) -> str:
    """TemplateParam / TtsParam as sent: compact JSON, Chinese kept as characters (Alibaba
    counts characters, and ``\\uXXXX`` escapes would use six of them each)."""
    return json.dumps(dict(variables), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class VoiceTemplate:
    """A text-to-speech template for SingleCallByTts."""

    tts_code: str
    tts_param: str = "content"
    show_number: str = ""          # CalledShowNumber; blank = Alibaba's shared number pool
    play_times: int = 2
    volume: int = 100
    speed: int = 0
    constants: Mapping[str, str] = field(default_factory=dict)

    def tts_json(self, text: str) -> str:
        return template_json({**self.constants, self.tts_param: text})


@dataclass(frozen=True)
class SmsProfile:
    name: str
    sign_name: str
    template_code: str
    template_param: str = "content"
    constants: Mapping[str, str] = field(default_factory=dict)   # other template variables
    voice: VoiceTemplate | None = None
    default: bool = False

    def template_json(self, text: str) -> str:
        return template_json({**self.constants, self.template_param: text})

    @classmethod
    def from_reader(cls, reader: ConfigReader) -> SmsProfile:
        voice_value = reader.mapping.get("voice")
        voice = None if voice_value is None else _voice(type(reader)(voice_value,
                                                                     reader.key("voice")))
        return cls(
            name=reader.string("name", required=True),
            sign_name=reader.string("sign_name", required=True),
            template_code=reader.string("template_code", required=True),
            template_param=_variable(reader, "template_param"),
            constants=_constants(reader, "template_constants"),
            voice=voice,
            default=reader.boolean("default", default=False),
        )


def _voice(reader: ConfigReader) -> VoiceTemplate:
    show_number = reader.string("show_number")
    if show_number and not show_number.isdigit():
        raise ConfigError(reader.key("show_number"), "expected the digits of a number bought in "
                          "the voice console (or blank for the shared number pool)")
    return VoiceTemplate(
        tts_code=reader.string("tts_code", required=True),
        tts_param=_variable(reader, "tts_param"),
        show_number=show_number,
        play_times=_whole(reader, "play_times", 2, PLAY_TIMES_RANGE),
        volume=_whole(reader, "volume", 100, VOLUME_RANGE),
        speed=_whole(reader, "speed", 0, SPEED_RANGE),
        constants=_constants(reader, "tts_constants"),
    )


def _variable(reader: ConfigReader, name: str) -> str:
    value = reader.string(name, default="content")
    if not _VARIABLE.match(value):
        raise ConfigError(reader.key(name), f"expected a template variable name such as "
                          f"content (letters, digits, _), got {value!r}")
    return value


def _constants(reader: ConfigReader, name: str) -> dict[str, str]:
    value = reader.mapping.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and _VARIABLE.match(k) and isinstance(v, (str, int))
            and not isinstance(v, bool) for k, v in value.items()):
        raise ConfigError(reader.key(name), "expected an object of template variable: text")
    return {k: str(v) for k, v in value.items()}


def _whole(reader: ConfigReader, name: str, default: int, bounds: tuple[int, int]) -> int:
    value = reader.mapping.get(name, default)
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(reader.key(name), f"expected a whole number from {low} to {high}, "
                          f"got {value!r}")
    return value


def parse_sms_profiles(readers: Sequence[ConfigReader]) -> tuple[SmsProfile, ...]:
    profiles = tuple(SmsProfile.from_reader(r) for r in readers)
    seen: dict[str, int] = {}
    for i, profile in enumerate(profiles):
        if profile.name.lower() in seen:
            raise ConfigError(f"sms_profiles[{i}].name", f"{profile.name!r} is already used by "
                              f"sms_profiles[{seen[profile.name.lower()]}]")
        seen[profile.name.lower()] = i
    if sum(p.default for p in profiles) > 1:
        raise ConfigError("sms_profiles", "at most one profile may be marked default: true")
    return profiles


def default_profile(profiles: Sequence[SmsProfile]) -> SmsProfile | None:
    for profile in profiles:
        if profile.default:
            return profile
    return profiles[0] if profiles else None
