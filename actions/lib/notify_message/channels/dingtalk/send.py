"""DingTalk custom group robots.

Every robot of a call is one delivery; they run concurrently within the call's bound and
share one keep-alive HTTP client.  DingTalk answers HTTP 200 whether it took the message or
not, so the verdict is the ``errcode`` of its answer: 0 is delivered; transient answers
(busy, too fast, HTTP 5xx, timeouts) are retried with exponential backoff within
``dingtalk_retry_seconds``; everything else fails at once with what to do about it.  Within
a call no robot is sent more than DingTalk's 20 messages per minute, retries included.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx

from ...result import Channel, Delivery, Outcome, Redactor, http_status
from ...runtime import (
    AnswerTooLarge,
    DeliveryContext,
    HttpAnswer,
    exception_chain,
    guarded,
    post,
    report,
)
from .config import DingTalkSettings
from .message import DingTalkMessage, DingTalkRequest, RobotTarget, keyword_problem
from .split import TooLong, long_message_mode, message_bodies, part_labels
from .protocol import (
    CREDENTIAL_PARAMETERS,
    SIGNING_PARAMETERS,
    encode_body,
    explain_errcode,
    signed_query,
)

__all__ = ["CHANNEL", "send_dingtalk"]

CHANNEL = Channel.DINGTALK
_ERRMSG_SHOWN = 200


class _MaskWebhookCredentials(logging.Filter):
    """httpx logs every request URL at INFO; a robot's URL holds its access_token and sign."""

    _CREDENTIAL = re.compile(r"((?:%s)=)[^&\s'\"]+"
                             % "|".join(CREDENTIAL_PARAMETERS + SIGNING_PARAMETERS))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._CREDENTIAL.sub(r"\1***", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_HTTPX_LOG_FILTER = _MaskWebhookCredentials()
logging.getLogger("httpx").addFilter(_HTTPX_LOG_FILTER)


async def send_dingtalk(request: DingTalkRequest, settings: DingTalkSettings,
                        ctx: DeliveryContext) -> list[Delivery]:
    """Send the message to every robot of the request; one Delivery per robot, in order."""
    sender = _Sender(settings, ctx)

    async def one(robot: RobotTarget) -> list[Delivery]:
        return await sender.deliver(robot, request.message)

    batches = await asyncio.gather(*(guarded(CHANNEL, [robot.label], one(robot))
                                     for robot in request.robots))
    return [delivery for batch in batches for delivery in batch]


@dataclass(frozen=True)
class _Answer:
    outcome: Outcome
    transient: bool
    code: str | None
    detail: str


class _RateWindow:
    """DingTalk's per-robot limit (N messages per sliding window), kept for one call."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.sent: dict[str, deque[float]] = {}

    def wait(self, token: str, now: float) -> float:
        """Seconds to wait before the robot may be sent another message."""
        sent = self.sent.setdefault(token, deque())
        while sent and now - sent[0] >= self.window:
            sent.popleft()
        return 0.0 if len(sent) < self.limit else sent[0] + self.window - now

    def record(self, token: str, now: float) -> None:
        self.sent.setdefault(token, deque()).append(now)


class _Sender:
    def __init__(self, settings: DingTalkSettings, ctx: DeliveryContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self.rate = _RateWindow(settings.rate_limit, settings.rate_window)

    async def deliver(self, robot: RobotTarget, message: DingTalkMessage) -> list[Delivery]:
        """The message to one robot: one delivery, or one per part of a message split to
        fit DingTalk's size limit, sent in order; after a part that was not delivered the
        rest are not sent (they would arrive out of context)."""
        refusal = keyword_problem(robot, message.body(robot.mentions))
        if refusal is not None:
            return [report(Delivery.not_sent(CHANNEL, robot.label, refusal))]
        try:
            bodies = message_bodies(message, robot,
                                    long_message_mode(robot, self.settings.long_messages))
        except TooLong as exc:  # checked with the parameters; a config changed since, say
            return [report(Delivery.not_sent(CHANNEL, robot.label, f"dingdingcontext {exc}"))]
        labels = part_labels(robot.label, len(bodies))
        deliveries: list[Delivery] = []
        for index, (label, body) in enumerate(zip(labels, bodies)):
            delivery = report(await self._deliver_body(robot, body, label))
            deliveries.append(delivery)
            if not delivery.ok and index + 1 < len(bodies):
                why = (f"part {index + 1} of {len(bodies)} was not delivered, so the parts "
                       "after it were not sent")
                deliveries += [report(Delivery.not_sent(CHANNEL, rest, why))
                               for rest in labels[index + 1:]]
                break
        return deliveries

    async def _deliver_body(self, robot: RobotTarget, body: dict[str, Any], label: str
                            ) -> Delivery:
        content = encode_body(body)
        policy = self.settings.retry_policy
        started = time.monotonic()
        # the retry budget bounds the whole delivery, attempts included (one attempt at least)
        deadline = started + max(policy.budget, self.settings.timeout)
        attempts = uncertain = 0
        answer = _Answer(Outcome.NOT_SENT, False, None, "not sent")
        while True:
            elapsed = time.monotonic() - started
            wait = self.rate.wait(robot.webhook.access_token, time.monotonic())
            if wait > 0:
                if elapsed + wait > policy.budget:
                    return self._final(label, robot, attempts, answer, (
                        f"; not retried: {self.settings.rate_limit} messages already went to "
                        f"this robot in the last {self.settings.rate_window:g}s, DingTalk's "
                        "limit"))
                await asyncio.sleep(wait)
            attempts += 1
            self.rate.record(robot.webhook.access_token, time.monotonic())
            async with self.ctx.limit:
                time_left = deadline - time.monotonic()
                answer = await self._post(robot, content, min(self.settings.timeout,
                                                              max(time_left, 0.001)))
            if answer.outcome is Outcome.DELIVERED:
                retried = f" after {attempts} attempts" if attempts > 1 else ""
                twice = (f"; {uncertain} earlier attempt{'s' if uncertain > 1 else ''} got no "
                         "answer and may have arrived too") if uncertain else ""
                return Delivery.delivered(CHANNEL, label, answer.detail + retried + twice,
                                          code=answer.code, attempts=attempts,
                                          uncertain_attempts=uncertain)
            if answer.outcome is Outcome.UNKNOWN:
                uncertain += 1
                if not self.settings.retry_unknown:
                    return self._final(label, robot, attempts, answer, (
                        "; not retried: it may have reached DingTalk and "
                        "dingtalk_retry_unknown is false"), uncertain)
            if not answer.transient:
                return self._final(label, robot, attempts, answer, "", uncertain)
            pause = policy.next_delay(attempts, time.monotonic() - started)
            if pause is not None and time.monotonic() + pause >= deadline:
                pause = None
            if pause is None:
                return self._final(label, robot, attempts, answer, (
                    f"; gave up after {attempts} attempt{'s' if attempts > 1 else ''} within "
                    f"dingtalk_retry_seconds ({policy.budget:g}s)"), uncertain)
            await asyncio.sleep(pause)

    def _final(self, label: str, robot: RobotTarget, attempts: int, answer: _Answer, why: str,
               uncertain: int = 0) -> Delivery:
        # a failure after an attempt that may have arrived is an unknown outcome, not a failure
        outcome = Outcome.UNKNOWN if uncertain and answer.outcome is not Outcome.DELIVERED \
            else answer.outcome
        return Delivery(CHANNEL, label, outcome, answer.code, attempts,
                        self._scrub(robot, answer.detail + why), None, uncertain)

    def _scrub(self, robot: RobotTarget, text: str) -> str:
        # the robot's own credentials too: a URL from a parameter is in no config
        own = Redactor((robot.webhook.url, robot.webhook.access_token, robot.secret))
        return self.ctx.redactor(own(text))

    async def _post(self, robot: RobotTarget, content: bytes, timeout: float) -> _Answer:
        url = robot.webhook.url
        if robot.secret:
            url += "&" + signed_query(robot.secret, int(time.time() * 1000))
        where = robot.webhook.netloc
        client = self.ctx.http(self.settings.ca_bundle)
        try:
            # one deadline for the whole attempt: httpx's timeout is per read, and a server
            # that sends a byte at a time would stretch it without end
            response = await post(client, url, content=content, timeout=timeout,
                                  headers={"Content-Type": "application/json; charset=utf-8"})
        except AnswerTooLarge:
            return _Answer(Outcome.UNKNOWN, False, None, (
                f"{where} answered more than a DingTalk answer can be, so whether the message "
                "was taken is unknown: is the webhook a DingTalk robot?"))
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            return _Answer(Outcome.NOT_SENT, True, None,
                           f"could not connect to {where} within {timeout:g}s")
        except (httpx.TimeoutException, asyncio.TimeoutError):
            return _Answer(Outcome.UNKNOWN, True, None,
                           f"no answer from {where} within {timeout:g}s")
        except httpx.ConnectError as exc:
            return _Answer(Outcome.NOT_SENT, False, None, _connect_failure(exc, where))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            return _Answer(Outcome.NOT_SENT, False, None,
                           f"the request to {where} could not be made ({type(exc).__name__})")
        except httpx.TransportError as exc:  # the connection broke mid-request
            return _Answer(Outcome.UNKNOWN, True, None,
                           f"the connection to {where} failed ({type(exc).__name__})")
        return _read_answer(response, where)


def _read_answer(response: HttpAnswer, where: str) -> _Answer:
    status = response.status
    if status >= 500:  # a gateway's error: the robot may have had the message before it
        return _Answer(Outcome.UNKNOWN, True, http_status(status),
                       f"{where} answered HTTP {status}")
    if status != 200:
        return _Answer(Outcome.FAILED, False, http_status(status), (
            f"{where} answered HTTP {status}, not DingTalk's HTTP 200 with an errcode: "
            "check the webhook URL"))
    try:
        answer = response.json()
        errcode = answer["errcode"]
        if isinstance(errcode, bool) or not isinstance(errcode, int):
            raise TypeError("errcode is not an integer")  # DingTalk's always is
    except (ValueError, TypeError, KeyError, OverflowError):
        return _Answer(Outcome.UNKNOWN, False, None, (
            f"{where} answered HTTP 200 without DingTalk's errcode, so whether the message "
            "was taken is unknown: is the webhook a DingTalk robot?"))
    errmsg = str(answer.get("errmsg", ""))[:_ERRMSG_SHOWN]
    if errcode == 0:
        return _Answer(Outcome.DELIVERED, False, "0", "delivered (errcode 0)")
    transient, explanation = explain_errcode(errcode, errmsg)
    return _Answer(Outcome.FAILED, transient, str(errcode),
                   f"DingTalk answered errcode {errcode} ({errmsg}): {explanation}")


def _connect_failure(exc: BaseException, where: str) -> str:
    for cause in exception_chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (f"the certificate of {where} could not be verified "
                    f"({cause.verify_message}); for an on-premises relay set "
                    "dingtalk_ca_bundle to the CA file that signed it")
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {where}: check the webhook's host and port"
    return (f"could not connect to {where}: check the host name, DNS and that a firewall "
            "lets HTTPS out")
