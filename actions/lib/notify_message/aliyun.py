"""Alibaba Cloud RPC-style OpenAPI: the signature, the account config, and one async client.

This is the one place that knows how an Alibaba Cloud RPC request is signed (signature
method HMAC-SHA1, version 1.0) and what the API gateway's own error codes mean.  The SMS
and voice channels use it, and so can any later product (the Message Center relay calls
SOAR's ``RunNotifyComponentWithMessageCenter``): declare the product once, then::

    answer = await AliyunClient(account, ctx).call(
        SOPHONSOAR, "RunNotifyComponentWithMessageCenter", {"Aliuid": ..., "EventId": ...})

The client never raises for what a server answers or for a broken connection: it returns an
``RpcAnswer`` whose ``outcome`` says whether the request was answered, never sent, or sent
without an answer (``UNKNOWN``: a non-idempotent action is then *not* repeated).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from .errors import ConfigError

if TYPE_CHECKING:  # config.py imports this module; only the type is needed here
    from .config import ConfigReader
    from .delivery import DeliveryContext

__all__ = [
    "AliyunProduct", "DYSMSAPI", "DYVMSAPI", "SOPHONSOAR", "PRODUCTS", "ALIYUN_HOST_SUFFIX",
    "percent_encode", "canonical_query", "string_to_sign", "rpc_signature", "sign_params",
    "AliyunAccount", "AliyunClient", "RpcAnswer", "ANSWERED", "NOT_SENT", "UNKNOWN",
    "explain_common_error",
]

SIGNATURE_METHOD = "HMAC-SHA1"
SIGNATURE_VERSION = "1.0"
ALIYUN_HOST_SUFFIX = ".aliyuncs.com"
DEFAULT_REGION = "cn-hangzhou"
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 2
DEFAULT_RETRY_BACKOFF = 1.0


@dataclass(frozen=True)
class AliyunProduct:
    """An RPC product: its name (the key of ``aliyun.endpoints``), API version, default host."""

    name: str
    version: str
    host: str


DYSMSAPI = AliyunProduct("dysmsapi", "2017-05-25", "dysmsapi.aliyuncs.com")
DYVMSAPI = AliyunProduct("dyvmsapi", "2017-05-25", "dyvmsapi.aliyuncs.com")
# SOAR's own OpenAPI, for the Message Center relay (RunNotifyComponentWithMessageCenter)
SOPHONSOAR = AliyunProduct("sophonsoar", "2022-07-28", "sophonsoar.aliyuncs.com")
PRODUCTS: dict[str, AliyunProduct] = {p.name: p for p in (DYSMSAPI, DYVMSAPI, SOPHONSOAR)}


# --- the signature -------------------------------------------------------------------------

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding of UTF-8 bytes: only ``A-Z a-z 0-9 - _ . ~`` stay as they
    are (a space is ``%20``, never ``+``; ``*`` is ``%2A``; ``~`` is kept)."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in value.encode("utf-8"))


def canonical_query(params: Mapping[str, str]) -> str:
    """``k=v`` pairs, names and values percent-encoded, sorted by name, joined by ``&``."""
    return "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """``METHOD&%2F&pct(canonical query)``: the query is encoded a second time."""
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def rpc_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    """Base64(HMAC-SHA1(key = secret + "&", string to sign)); ``Signature`` itself excluded."""
    unsigned = {k: v for k, v in params.items() if k != "Signature"}
    digest = hmac.new(f"{secret}&".encode(), string_to_sign(method, unsigned).encode(),
                      hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_params(method: str, product: AliyunProduct, action: str, params: Mapping[str, Any],
                access_key_id: str, secret: str, *, region_id: str = DEFAULT_REGION,
                timestamp: float | None = None, nonce: str | None = None) -> dict[str, str]:
    """Every parameter of one request: the common ones, the action's, and ``Signature``."""
    signed = {
        "AccessKeyId": access_key_id,
        "Action": action,
        "Format": "JSON",
        "RegionId": region_id,
        "SignatureMethod": SIGNATURE_METHOD,
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "SignatureVersion": SIGNATURE_VERSION,
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                   time.gmtime(time.time() if timestamp is None else timestamp)),
        "Version": product.version,
    }
    signed.update({k: str(v) for k, v in params.items() if v is not None})
    signed["Signature"] = rpc_signature(method, signed, secret)
    return signed


# --- the account ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AliyunAccount:
    """The ``aliyun`` section of the pack config: the AccessKey pair and how to reach the APIs."""

    access_key_id: str = field(repr=False)
    access_key_secret: str = field(repr=False)
    region_id: str = DEFAULT_REGION
    endpoints: Mapping[str, str] = field(default_factory=dict)   # product name -> base URL
    allowed_endpoint_hosts: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    retry_backoff: float = DEFAULT_RETRY_BACKOFF
    ca_bundle: str = ""
    verify: bool = True

    def url(self, product: AliyunProduct) -> str:
        return self.endpoints.get(product.name) or f"https://{product.host}/"

    def secrets(self) -> list[str]:
        return [self.access_key_secret, self.access_key_id]

    @classmethod
    def from_reader(cls, reader: ConfigReader) -> AliyunAccount:
        allowed = tuple(h.lower() for h in _string_list(reader, "allowed_endpoint_hosts"))
        endpoints_value = reader.mapping.get("endpoints") or {}
        if not isinstance(endpoints_value, Mapping):
            raise ConfigError(reader.key("endpoints"), "expected an object of product: URL")
        endpoints = {}
        for name, value in endpoints_value.items():
            key = f"{reader.key('endpoints')}.{name}"
            if name not in PRODUCTS:
                raise ConfigError(key, f"unknown product; expected one of {', '.join(PRODUCTS)}")
            endpoints[name] = _endpoint_url(key, value, allowed)
        return cls(
            access_key_id=reader.string("access_key_id", required=True),
            access_key_secret=reader.string("access_key_secret", required=True),
            region_id=reader.string("region_id", default=DEFAULT_REGION),
            endpoints=endpoints,
            allowed_endpoint_hosts=allowed,
            timeout=reader.number("timeout", default=DEFAULT_TIMEOUT),
            retries=_count(reader, "retries", DEFAULT_RETRIES),
            retry_backoff=_seconds(reader, "retry_backoff", DEFAULT_RETRY_BACKOFF),
            ca_bundle=reader.string("ca_bundle"),
            verify=reader.boolean("verify", default=True),
        )


def _string_list(reader: ConfigReader, name: str) -> list[str]:
    value = reader.mapping.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(reader.key(name), "expected a list of host names")
    return [v.strip() for v in value]


def _count(reader: ConfigReader, name: str, default: int) -> int:
    value = reader.mapping.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise ConfigError(reader.key(name), f"expected a whole number from 0 to 10, got {value!r}")
    return value


def _seconds(reader: ConfigReader, name: str, default: float) -> float:
    value = reader.mapping.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 60:
        raise ConfigError(reader.key(name), f"expected seconds from 0 to 60, got {value!r}")
    return float(value)


def _endpoint_url(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    """A base URL for a product; hosts outside *.aliyuncs.com only when listed as allowed."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, "expected a host or an https:// URL")
    text = value.strip()
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host or parts.query or parts.fragment:
        raise ConfigError(key, f"expected a host or an https:// URL, got {text!r}")
    listed = host in allowed
    if not listed and not host.endswith(ALIYUN_HOST_SUFFIX):
        raise ConfigError(key, f"{host} is not an Alibaba Cloud endpoint (*{ALIYUN_HOST_SUFFIX});"
                          " list it in aliyun.allowed_endpoint_hosts to use it anyway")
    if parts.scheme == "http" and not listed:
        raise ConfigError(key, "Alibaba Cloud endpoints are reached over https://")
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"


# --- the client ----------------------------------------------------------------------------

ANSWERED = "answered"    # the server answered (success or error body)
NOT_SENT = "not sent"    # the request never left: connecting failed
UNKNOWN = "unknown"      # sent, but no readable answer came back: it may have been executed

# Refusals that happen before the action runs, so sending again is safe even for SendSms.
_RETRY_SAFE_CODES = frozenset({"Throttling", "Throttling.User", "Throttling.Api",
                               "SignatureNonceUsed"})


@dataclass(frozen=True)
class RpcAnswer:
    """What one RPC call came to.  ``body`` is the parsed JSON answer ({} without one)."""

    outcome: str
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
        code = self.code or f"HTTP {self.status}"
        text = f"{self.endpoint} answered {code}"
        if self.message:
            text += f": {self.message}"
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
        attempts = 0
        while True:
            attempts += 1
            answer = await self._once(product, action, params, attempts)
            retry_safe = (answer.outcome == NOT_SENT
                          or (answer.outcome == ANSWERED and answer.code in _RETRY_SAFE_CODES)
                          or (answer.outcome == UNKNOWN and idempotent))
            if not retry_safe or attempts > self.account.retries:
                return answer
            await self.sleep(self.account.retry_backoff * 2 ** (attempts - 1))

    async def _once(self, product: AliyunProduct, action: str, params: Mapping[str, Any],
                    attempts: int) -> RpcAnswer:
        account = self.account
        signed = sign_params("POST", product, action, params, account.access_key_id,
                             account.access_key_secret, region_id=account.region_id)
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in signed.items())
        endpoint = self.endpoint(product)
        try:
            response = await self.http.post(
                account.url(product), content=body.encode("ascii"), timeout=account.timeout,
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         "Accept": "application/json"})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return RpcAnswer(NOT_SENT, endpoint, attempts,
                             error=self.redactor(f"could not connect to {endpoint}: "
                                                 f"{_describe(exc)}"))
        except httpx.TimeoutException:
            return RpcAnswer(UNKNOWN, endpoint, attempts,
                             error=f"no answer from {endpoint} within {account.timeout:g}s")
        except httpx.HTTPError as exc:
            return RpcAnswer(UNKNOWN, endpoint, attempts,
                             error=self.redactor(f"the connection to {endpoint} broke before "
                                                 f"an answer came: {_describe(exc)}"))
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            outcome = ANSWERED if 400 <= response.status_code < 500 else UNKNOWN
            return RpcAnswer(outcome, endpoint, attempts, response.status_code,
                             error=f"{endpoint} answered HTTP {response.status_code} without "
                                   "an Alibaba Cloud JSON body")
        if response.status_code >= 500:  # the gateway failed: the action may or may not have run
            return RpcAnswer(UNKNOWN, endpoint, attempts, response.status_code,
                             self._clean(parsed),
                             error=f"{endpoint} answered HTTP {response.status_code}")
        return RpcAnswer(ANSWERED, endpoint, attempts, response.status_code, self._clean(parsed))

    def _clean(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The answer with configured secrets masked; SignatureDoesNotMatch messages quote the
        server's string to sign (our AccessKeyId and the whole request): keep only the gist."""
        cleaned = dict(body)
        message = str(cleaned.get("Message") or "")
        cut = message.find("server string to sign is:")
        if cut >= 0:
            message = message[:cut].rstrip(" .") + "."
        cleaned["Message"] = message
        return _redact_values(cleaned, self.redactor)


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
