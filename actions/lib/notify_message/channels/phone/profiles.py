"""The ``sms_profiles`` section of the pack config: what an SMS (and a voice call) says.

A profile names an approved SMS signature and template of the Alibaba Cloud account in the
``aliyun`` section, and the template variable that carries the notification text; with a
``voice`` block it also names an approved text-to-speech template, so that ``telephone``
numbers are called as well.  ``sms=<name>`` selects a profile; ``sms=1`` the default one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ...bounded import ascii_digits
from ...config.reader import ConfigReader
from ...errors import ConfigError


__all__ = ["VoiceTemplate", "SmsProfile", "template_json", "PLAY_TIMES_RANGE", "VOLUME_RANGE",
           "SPEED_RANGE"]

# SingleCallByTts (Dyvmsapi 2017-05-25) ranges
PLAY_TIMES_RANGE = (1, 3)
VOLUME_RANGE = (0, 100)
SPEED_RANGE = (-500, 500)
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONSTANTS = "template variable: text"


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
        voice = None if reader.mapping.get("voice") is None else _voice(reader.child("voice"))
        return cls(
            name=reader.string("name", required=True),
            sign_name=reader.string("sign_name", required=True),
            template_code=reader.string("template_code", required=True),
            template_param=_variable(reader, "template_param"),
            constants=reader.string_map("template_constants", _VARIABLE, _CONSTANTS),
            voice=voice,
            default=reader.boolean("default", default=False),
        )


def _voice(reader: ConfigReader) -> VoiceTemplate:
    show_number = reader.string("show_number")
    if show_number and not ascii_digits(show_number):
        raise ConfigError(reader.key("show_number"), "expected the digits of a number bought in "
                          "the voice console (or blank for the shared number pool)")
    return VoiceTemplate(
        tts_code=reader.string("tts_code", required=True),
        tts_param=_variable(reader, "tts_param"),
        show_number=show_number,
        play_times=reader.integer("play_times", default=2, minimum=PLAY_TIMES_RANGE[0],
                                  maximum=PLAY_TIMES_RANGE[1]),
        volume=reader.integer("volume", default=100, minimum=VOLUME_RANGE[0],
                              maximum=VOLUME_RANGE[1]),
        speed=reader.integer("speed", default=0, minimum=SPEED_RANGE[0],
                             maximum=SPEED_RANGE[1]),
        constants=reader.string_map("tts_constants", _VARIABLE, _CONSTANTS),
    )


def _variable(reader: ConfigReader, name: str) -> str:
    return reader.matching(name, _VARIABLE, "a template variable name such as content "
                           "(letters, digits, _)", default="content")
