"""The ``aliyun`` section of the pack config: the AccessKey pair and how to reach the APIs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..bounded import EDGE, control_character, shown, valid_text
from ..config.reader import ConfigReader
from ..errors import ConfigError
from ..runtime import RetryPolicy
from .signing import ALIYUN_HOST_SUFFIX, DEFAULT_REGION, PRODUCTS, AliyunProduct

__all__ = ["AliyunAccount"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 2
DEFAULT_RETRY_BACKOFF = 1.0


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

    @property
    def retry_policy(self) -> RetryPolicy:
        """Requests refused before they ran are sent again ``retries`` times, waiting
        ``retry_backoff`` seconds, then twice as long each time (at most a minute)."""
        return RetryPolicy(attempts=self.retries + 1, backoff=self.retry_backoff, cap=60.0)

    def url(self, product: AliyunProduct) -> str:
        return self.endpoints.get(product.name) or f"https://{product.host}/"

    def secrets(self) -> list[str]:
        return [self.access_key_secret, self.access_key_id]

    @classmethod
    def from_reader(cls, reader: ConfigReader) -> AliyunAccount:
        allowed = reader.hosts("allowed_endpoint_hosts")
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
            timeout=reader.seconds("timeout", default=DEFAULT_TIMEOUT),
            retries=reader.integer("retries", default=DEFAULT_RETRIES, minimum=0, maximum=10),
            retry_backoff=reader.seconds("retry_backoff", default=DEFAULT_RETRY_BACKOFF,
                                         maximum=60.0, zero=True),
            ca_bundle=reader.string("ca_bundle"),
            verify=reader.boolean("verify", default=True),
        )


def _endpoint_url(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    """A base URL for a product; hosts outside *.aliyuncs.com only when listed as allowed."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, "expected a host or an https:// URL")
    text = value.strip(EDGE)
    # the exact string that is sent: urlsplit silently drops tab, CR and LF
    if len(text) > 2048 or control_character(text) is not None or not valid_text(text):
        raise ConfigError(key, "expected a host or an https:// URL: one line of printable "
                          "text, at most 2048 characters")
    try:
        parts = urlsplit(text if "://" in text else f"https://{text}")
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018  (a port beyond 65535 raises)
    except ValueError:  # a bracketed host that is no IP address, a port beyond 65535
        raise ConfigError(key, f"expected a host or an https:// URL, got {shown(text)}"
                          ) from None
    if parts.scheme not in ("https", "http") or not host or parts.query or parts.fragment \
            or parts.username is not None or parts.password is not None:
        raise ConfigError(key, f"expected a host or an https:// URL (no user:password, query "
                          f"or fragment), got {shown(text)}")
    listed = host in allowed
    if not listed and not host.endswith(ALIYUN_HOST_SUFFIX):
        raise ConfigError(key, f"{host} is not an Alibaba Cloud endpoint (*{ALIYUN_HOST_SUFFIX});"
                          " list it in aliyun.allowed_endpoint_hosts to use it anyway")
    if parts.scheme == "http" and not listed:
        raise ConfigError(key, "Alibaba Cloud endpoints are reached over https://")
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
