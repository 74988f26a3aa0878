"""What the SMS and voice senders take: typed requests, already checked."""

from __future__ import annotations

from dataclasses import dataclass

from ...aliyun.account import AliyunAccount
from .numbers import PhoneNumber
from .profiles import SmsProfile, VoiceTemplate

__all__ = ["SmsRequest", "VoiceRequest"]


@dataclass(frozen=True)
class SmsRequest:
    account: AliyunAccount
    profile: SmsProfile
    numbers: tuple[PhoneNumber, ...]
    text: str


@dataclass(frozen=True)
class VoiceRequest:
    account: AliyunAccount
    template: VoiceTemplate
    numbers: tuple[PhoneNumber, ...]
    text: str
