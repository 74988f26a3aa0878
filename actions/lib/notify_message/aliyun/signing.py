"""How an Alibaba Cloud RPC request is signed: the one place that knows it.

Signature method HMAC-SHA1, version 1.0: the request's parameters, percent-encoded as RFC
3986 says and sorted by name, form the canonical query; ``METHOD&%2F&pct(query)`` is signed
with the key ``secret + "&"``.  Each RPC product is declared once here, with its API version
and central endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AliyunProduct", "DYSMSAPI", "DYVMSAPI", "SOPHONSOAR", "PRODUCTS", "ALIYUN_HOST_SUFFIX",
    "DEFAULT_REGION", "percent_encode", "canonical_query", "string_to_sign", "rpc_signature",
    "sign_params",
]

SIGNATURE_METHOD = "HMAC-SHA1"
SIGNATURE_VERSION = "1.0"
ALIYUN_HOST_SUFFIX = ".aliyuncs.com"
DEFAULT_REGION = "cn-hangzhou"


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
