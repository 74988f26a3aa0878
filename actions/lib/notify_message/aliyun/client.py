"""One async client for Alibaba Cloud's RPC-style OpenAPI, and what its answers mean.

The SMS and voice channels use it, and so can any later product (the Message Center relay
calls SOAR's ``RunNotifyComponentWithMessageCenter``): declare the product once in
``signing``, then::

    answer = await AliyunClient(account, ctx).call(
        SOPHONSOAR, "RunNotifyComponentWithMessageCenter", {"Aliuid": ..., "EventId": ...})

The client never raises for what a server answers or for a broken connection: it returns an
``RpcAnswer`` whose ``outcome`` says whether the request was answered, never sent, or sent
without an answer (``UNKNOWN``: a non-idempotent action is then *not* repeated).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..result import Channel, Delivery, http_status
from ..runtime import AnswerTooLarge, DeliveryContext, post
from .account import AliyunAccount
from .signing import AliyunProduct, percent_encode, sign_params

__all__ = ["AliyunClient", "RpcAnswer", "RpcOutcome", "ANSWERED", "NOT_SENT", "UNKNOWN",
           "explain_common_error", "answer_delivery"]


_MESSAGE_SHOWN = 300   # characters of an answer's Message quoted in a delivery


class RpcOutcome(str, Enum):
    """What became of one request."""

    ANSWERED = "answered"    # the server answered (success or error body)
    NOT_SENT = "not sent"    # the request never left: connecting failed
    UNKNOWN = "unknown"      # sent, but no readable answer came back: it may have been executed


ANSWERED, NOT_SENT, UNKNOWN = RpcOutcome.ANSWERED, RpcOutcome.NOT_SENT, RpcOutcome.UNKNOWN

# Refusals that happen before the action runs, so sending again is safe even for SendSms.
_RETRY_SAFE_CODES = frozenset({"Throttling", "Throttling.User", "Throttling.Api",
                               "SignatureNonceUsed"})


@dataclass(frozen=True)
class RpcAnswer:
    """What one RPC call came to.  ``body`` is the parsed JSON answer ({} without one)."""

    outcome: RpcOutcome
    endpoint: str
    attempts: int
    status: int | None = None
    body: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""          # why there is no answer (NOT_SENT / UNKNOWN)

    @property
    def code(self) -> str | None:
        code = self.body.get("Code")
        return str(code) if code is not None else None

    @property
    def message(self) -> str:
        return str(self.body.get("Message") or "")

    @property
    def request_id(self) -> str:
        return str(self.body.get("RequestId") or "")

    @property
    def ok(self) -> bool:
        """Answered with a 2xx status, and with ``Code == "OK"`` when the product has a Code."""
        return (self.outcome == ANSWERED and self.status is not None and 200 <= self.status < 300
                and self.code in (None, "OK"))

    def said(self) -> str:
        """``host answered CODE: message (RequestId ...)``, for a delivery's detail."""
        code = self.code or http_status(self.status or 0)
        text = f"{self.endpoint} answered {code}"
        if self.message:
            shown = self.message[:_MESSAGE_SHOWN]
            text += f": {shown}{'...' if len(self.message) > _MESSAGE_SHOWN else ''}"
        if self.request_id:
            text += f" (RequestId {self.request_id})"
        return text


class AliyunClient:
    """Signed POST requests over the call's shared keep-alive HTTP client."""

    def __init__(self, account: AliyunAccount, ctx: DeliveryContext, *,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.account = account
        self.redactor = ctx.redactor
        self.http = ctx.http(account.ca_bundle, verify=account.verify)
        self.sleep = sleep

    def endpoint(self, product: AliyunProduct) -> str:
        return urlsplit(self.account.url(product)).netloc

    async def call(self, product: AliyunProduct, action: str, params: Mapping[str, Any], *,
                   idempotent: bool = False) -> RpcAnswer:
        """Call ``action`` of ``product``.  Requests refused before they ran (no connection,
        API throttling) are sent again up to ``account.retries`` times with a fresh nonce;
        a request that went out unanswered is sent again only when ``idempotent``."""
        policy = self.account.retry_policy
        attempts = 0
        while True:
            attempts += 1
            answer = await self._once(product, action, params, attempts)
            retry_safe = (answer.outcome == NOT_SENT
                          or (answer.outcome == ANSWERED and answer.code in _RETRY_SAFE_CODES)
                          or (answer.outcome == UNKNOWN and idempotent))
            wait = policy.next_delay(attempts, elapsed=0.0) if retry_safe else None
            if wait is None:
                return answer
            await self.sleep(wait)

    async def _once(self, product: AliyunProduct, action: str, params: Mapping[str, Any],
                    attempts: int) -> RpcAnswer:
        account = self.account
        signed = sign_params("POST", product, action, params, account.access_key_id,
                             account.access_key_secret, region_id=account.region_id)
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in signed.items())
        endpoint = self.endpoint(product)
        try:
            # one deadline for the whole attempt, not per read (httpx's timeout)
            response = await post(
                self.http, account.url(product), content=body.encode("ascii"),
                timeout=account.timeout,
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         "Accept": "application/json"})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return RpcAnswer(NOT_SENT, endpoint, attempts,
                             error=self.redactor(f"could not connect to {endpoint}: "
                                                 f"{_describe(exc)}"))
        except (httpx.TimeoutException, asyncio.TimeoutError):
            return RpcAnswer(UNKNOWN, endpoint, attempts,
                             error=f"no answer from {endpoint} within {account.timeout:g}s")
        except AnswerTooLarge as exc:
            return RpcAnswer(UNKNOWN, endpoint, attempts, error=f"{endpoint}: {exc}")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            return RpcAnswer(NOT_SENT, endpoint, attempts,
                             error=f"the request to {endpoint} could not be made "
                                   f"({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return RpcAnswer(UNKNOWN, endpoint, attempts,
                             error=self.redactor(f"the connection to {endpoint} broke before "
                                                 f"an answer came: {_describe(exc)}"))
        status = response.status
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            outcome = ANSWERED if 400 <= status < 500 else UNKNOWN
            return RpcAnswer(outcome, endpoint, attempts, status,
                             error=f"{endpoint} answered HTTP {status} without an Alibaba Cloud "
                                   "JSON body")
        if status >= 500:  # the gateway failed: the action may or may not have run
            return RpcAnswer(UNKNOWN, endpoint, attempts, status, self._clean(parsed),
                             error=f"{endpoint} answered HTTP {status}")
        return RpcAnswer(ANSWERED, endpoint, attempts, status, self._clean(parsed))

    def _clean(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The answer with configured secrets masked; SignatureDoesNotMatch messages quote the
        server's string to sign (our AccessKeyId and the whole request): keep only the gist."""
        cleaned = dict(body)
        message = str(cleaned.get("Message") or "")
        cut = message.find("server string to sign is:")
        if cut >= 0:
            message = message[:cut].rstrip(" .") + "."
        cleaned["Message"] = message
        return {key: _redact_values(value, self.redactor) for key, value in cleaned.items()}


def _redact_values(value: Any, redactor: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, Mapping):
        return {k: _redact_values(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_values(v, redactor) for v in value]
    return value


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# --- what the gateway's errors mean --------------------------------------------------------

_COMMON_ERRORS: dict[str, str] = {
    "InvalidAccessKeyId.NotFound": "the AccessKey ID does not exist: check aliyun.access_key_id "
                                   "in the pack config",
    "InvalidAccessKeyId.Inactive": "the AccessKey is disabled: enable it in the RAM console or "
                                   "configure an active one",
    "SignatureDoesNotMatch": "the signature was refused: aliyun.access_key_secret does not "
                             "belong to aliyun.access_key_id (check both for typos and stray "
                             "spaces)",
    "IncompleteSignature": "the signature was refused: aliyun.access_key_secret does not belong "
                           "to aliyun.access_key_id",
    "InvalidTimeStamp.Expired": "this machine's clock is more than 15 minutes off UTC: "
                                "synchronise it (NTP)",
    "SignatureNonceUsed": "the request nonce was used before; send again",
    "Throttling": "too many API calls per second for this account; send again later",
    "Throttling.User": "too many API calls per second for this account; send again later",
    "Throttling.Api": "too many API calls per second for this API; send again later",
    "Forbidden.RAM": "the RAM user of this AccessKey lacks permission for this action: grant "
                     "it (AliyunDysmsFullAccess for SMS, AliyunDyvmsFullAccess for voice)",
    "Forbidden.AccessKeyDisabled": "the AccessKey is disabled: enable it in the RAM console",
    "InvalidVersion": "the endpoint does not serve this API version: check aliyun.endpoints",
    "InvalidAction.NotFound": "the endpoint does not offer this action: check aliyun.endpoints",
    "MissingParameter": "a required parameter was missing",
    "InvalidParameter": "a parameter was refused",
    "ServiceUnavailable": "the service is temporarily unavailable",
    "InternalError": "Alibaba Cloud had an internal error",
}


def explain_common_error(code: str | None) -> str | None:
    """What to do about an API gateway error code (shared by every product), or None."""
    if code is None:
        return None
    if code in _COMMON_ERRORS:
        return _COMMON_ERRORS[code]
    if code.startswith("Missing"):
        return _COMMON_ERRORS["MissingParameter"]
    if code.startswith("Throttling"):
        return _COMMON_ERRORS["Throttling"]
    return None


def answer_delivery(answer: RpcAnswer, channel: Channel, target: str, *, action: str,
                    accepted: str, explain: Callable[[str | None], str | None],
                    check_before_resending: str, reference: str | None = None,
                    note: str = "", code_required: bool = True) -> Delivery:
    """One Alibaba answer as the delivery of ``target``: delivered (``accepted`` says by
    whom, with what ids), outcome unknown (never sent again: ``action`` is not idempotent),
    not sent, or refused with what to do about ``answer.code`` (``explain``).  ``note`` is
    appended to a refusal (e.g. that one request carried several numbers)."""
    code = answer.code or (http_status(answer.status) if answer.status else None)
    if answer.ok and code_required and answer.code != "OK":
        # a 2xx without Alibaba's Code "OK": the request arrived, but nothing says it ran
        return Delivery.unknown(channel, target, (
            f"outcome unknown, not retried: {answer.said()} without Code OK, so whether "
            f"{action} ran is unknown; {check_before_resending} before sending again"),
            code=code, attempts=answer.attempts)
    if answer.ok:
        return Delivery.delivered(channel, target, accepted, code=code,
                                  attempts=answer.attempts, reference=reference)
    if answer.outcome == UNKNOWN:
        said = f"{answer.error} ({answer.said()})" if answer.body else answer.error
        return Delivery.unknown(channel, target, (
            f"outcome unknown, not retried: {said}. {action} is not idempotent, so it was not "
            f"sent again; {check_before_resending} before sending again"),
            code=code, attempts=answer.attempts)
    if answer.outcome == NOT_SENT:
        return Delivery.not_sent(channel, target, f"{answer.error} (attempts: {answer.attempts})",
                                 attempts=answer.attempts)
    hint = explain(answer.code)
    said = answer.said()
    return Delivery.failed(channel, target,
                           f"not sent: {said}: {hint}{note}" if hint else f"not sent: {said}{note}",
                           code=code, attempts=answer.attempts)
