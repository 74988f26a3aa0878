"""The ``aliyun_soar`` Message Center provider: Alibaba Cloud SOAR's own OpenAPI
``RunNotifyComponentWithMessageCenter`` (sophonsoar 2022-07-28) sends the notification
through the account's real Message Center, with the receiving management configured there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..aliyun.client import NOT_SENT, UNKNOWN, AliyunClient, RpcAnswer, explain_common_error
from ..aliyun.signing import SOPHONSOAR
from ..aliyun.account import AliyunAccount
from ..config.reader import ConfigReader
from ..runtime import DeliveryContext
from ..errors import ConfigError, ParameterError
from ..result import Delivery
from .request import MessageCenterRequest
from .templates import BUILTIN_TEMPLATES

__all__ = ["ACTION", "CHANNEL", "SoarRelay", "relay_params", "deliver_via_soar"]

ACTION = "RunNotifyComponentWithMessageCenter"
CHANNEL = "message_center"
SOAR_EVENT_IDS = tuple(sorted({t.event_id for t in BUILTIN_TEMPLATES}))

_HINTS = {
    "Forbidden.RAM": "the AccessKey's RAM user may not call SOAR: grant it "
                     "AliyunYundunSASFullAccess (or a policy allowing "
                     "yundun-sas:RunNotifyComponentWithMessageCenter)",
    "InvalidParameter": "check message_center.aliyun_soar (playbook_uuid: DescribePlaybooks "
                        "lists your playbooks) and the action's parameters",
}


@dataclass(frozen=True)
class SoarRelay:
    """``message_center.aliyun_soar``: which playbook node the notification runs as."""

    playbook_uuid: str
    node_name: str = "NotifyMessage_1"
    role_for: str = ""    # a member account's UID, when an administrator sends for it

    @classmethod
    def from_reader(cls, reader: ConfigReader) -> SoarRelay:
        role_for = reader.string("role_for")
        if role_for and not role_for.isdigit():
            raise ConfigError(reader.key("role_for"), f"expected an account UID, got {role_for!r}")
        return cls(reader.string("playbook_uuid", required=True),
                   reader.string("node_name", default="NotifyMessage_1"), role_for)


def relay_params(request: MessageCenterRequest, relay: SoarRelay) -> dict[str, str]:
    """The API's parameters; a list goes the way Alibaba's SDKs flatten it (Name.1, Name.2)."""
    params = {
        "Aliuid": request.aliuid,
        "EventId": request.event_id,
        "PlaybookUuid": relay.playbook_uuid,
        "NodeName": relay.node_name,
        "ComponentName": "NotifyMessage",
        "ActionName": "notifyByMessageCenter",
        "Lang": request.lang,
        "Params": json.dumps(dict(request.variables), ensure_ascii=False, sort_keys=True),
    }
    for index, channel in enumerate(request.channels, 1):
        params[f"ChannelTypeList.{index}"] = channel
    if relay.role_for:
        params["RoleFor"] = relay.role_for
    return params


def check_relayable(request: MessageCenterRequest) -> None:
    """SOAR knows only its own three events; templates added in the config stay local."""
    if request.event_id not in SOAR_EVENT_IDS:
        raise ParameterError("eventId", f"{request.event_id!r} is not a Message Center event of "
                             f"Alibaba Cloud SOAR; with provider aliyun_soar expected one of "
                             f"{', '.join(SOAR_EVENT_IDS)}")


async def deliver_via_soar(request: MessageCenterRequest, account: AliyunAccount,
                           relay: SoarRelay, ctx: DeliveryContext) -> list[Delivery]:
    async with ctx.limit:
        # not idempotent (it notifies people): an unanswered request is never sent again
        answer = await AliyunClient(account, ctx).call(SOPHONSOAR, ACTION,
                                                       relay_params(request, relay))
    return [Delivery(CHANNEL, f"aliuid {request.aliuid}", answer.ok,
                     answer.code or (str(answer.status) if answer.status else None),
                     answer.attempts, _detail(answer), answer.request_id or None)]


def _detail(answer: RpcAnswer) -> str:
    if answer.ok:
        return (f"accepted by {answer.endpoint}: Message Center sends it on the channels "
                f"configured for the account (RequestId {answer.request_id})")
    if answer.outcome == UNKNOWN:
        return (f"outcome unknown, not retried: {answer.error}. {ACTION} notifies people and "
                "is not idempotent; check Message Center before sending again")
    if answer.outcome == NOT_SENT:
        return f"not sent: {answer.error} (attempts: {answer.attempts})"
    hint = _HINTS.get(answer.code or "") or explain_common_error(answer.code)
    return f"not sent: {answer.said()}: {hint}" if hint else f"not sent: {answer.said()}"
