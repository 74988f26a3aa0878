"""The two actions of the component, as plain functions: parameters in, result out.

Data flows one way: raw parameters and config -> typed request -> concurrent deliveries ->
``NotifyResult``.  Nothing is sent unless the whole request is valid.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from .channels.dingtalk import send_dingtalk
from .channels.email import send_email
from .config import PackConfig
from .custom_request import CustomRequest, parse_custom_request
from .delivery import DeliveryContext
from .errors import NotifyMessageError
from .result import Delivery, NotifyResult, Redactor

__all__ = ["notify_by_custom", "deliver_custom"]

log = logging.getLogger(__name__)


def notify_by_custom(params: Mapping[str, Any], config: Mapping[str, Any] | PackConfig | None
                     ) -> NotifyResult:
    """Run notifyByCustom: validate everything, then deliver on every requested channel."""
    try:
        pack_config = config if isinstance(config, PackConfig) else PackConfig.from_mapping(config)
        request = parse_custom_request(_present(params), pack_config)
    except NotifyMessageError as exc:
        return NotifyResult.failed(str(exc))
    result = asyncio.run(deliver_custom(request, pack_config))
    log.info("notifyByCustom: %s", result.message.splitlines()[0])
    return result


async def deliver_custom(request: CustomRequest, config: PackConfig) -> NotifyResult:
    """Deliver a validated request; every channel runs concurrently within one bound."""
    redactor = Redactor(config.secrets() + request.secrets())
    async with DeliveryContext(redactor, config.max_concurrency) as ctx:
        jobs: list[Awaitable[list[Delivery]]] = []
        if request.email is not None:
            jobs.append(send_email(request.email, ctx))
        if request.dingtalk is not None:
            jobs.append(send_dingtalk(request.dingtalk, config.dingtalk, ctx))
        deliveries = [d for batch in await asyncio.gather(*jobs) for d in batch]
    deliveries += [
        Delivery(channel, ", ".join(names), False, None, 0,
                 f"not supported yet: this release of notify_message cannot deliver on "
                 f"{channel}; {', '.join(names)} was ignored and nothing was sent there")
        for channel, names in request.unsupported
    ]
    return NotifyResult(deliveries=tuple(deliveries))


def _present(params: Mapping[str, Any]) -> dict[str, Any]:
    """Drop parameters st2 passes as None because the caller left them out."""
    return {name: value for name, value in params.items() if value is not None}
