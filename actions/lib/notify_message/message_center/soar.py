"""The ``aliyun_soar`` Message Center provider: Alibaba Cloud SOAR's own OpenAPI
``RunNotifyComponentWithMessageCenter`` (sophonsoar 2022-07-28) sends the notification
through the account's real Message Center, with the receiving management configured there.
"""

from __future__ import annotations

import json

from ..aliyun.account import AliyunAccount
from ..aliyun.client import AliyunClient, answer_delivery, explain_common_error
from ..aliyun.signing import SOPHONSOAR
from ..errors import ParameterError
from ..result import Channel, Delivery
from ..runtime import DeliveryContext
from .request import MessageCenterRequest
from .settings import SoarRelay
from .templates import BUILTIN_TEMPLATES

__all__ = ["ACTION", "CHANNEL", "SOAR_EVENT_IDS", "relay_params", "check_relayable",
           "deliver_via_soar"]

ACTION = "RunNotifyComponentWithMessageCenter"
CHANNEL = Channel.MESSAGE_CENTER
SOAR_EVENT_IDS = tuple(sorted({t.event_id for t in BUILTIN_TEMPLATES}))

_HINTS = {
    "Forbidden.RAM": "the AccessKey's RAM user may not call SOAR: grant it "
                     "AliyunYundunSASFullAccess (or a policy allowing "
                     "yundun-sas:RunNotifyComponentWithMessageCenter)",
    "InvalidParameter": "check message_center.aliyun_soar (playbook_uuid: DescribePlaybooks "
                        "lists your playbooks) and the action's parameters",
}


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
    return [answer_delivery(
        answer, CHANNEL, f"aliuid {request.aliuid}", action=ACTION, explain=_explain,
        accepted=(f"accepted by {answer.endpoint}: Message Center sends it on the channels "
                  f"configured for the account (RequestId {answer.request_id})"),
        check_before_resending="check Message Center", reference=answer.request_id or None,
        code_required=False)]


def _explain(code: str | None) -> str | None:
    return _HINTS.get(code or "") or explain_common_error(code)
