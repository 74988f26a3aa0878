"""testConnection (and ``python -m notify_message check``): is the pack config usable,
without notifying anybody?

For each SMTP instance: connect (TLS as configured), log in, QUIT; nothing is sent.  For
each DingTalk robot: the webhook's form, the secret's form and the keywords, then a probe
that DingTalk refuses for its missing content (so nothing shows in the group) and that still
proves the access_token and the signature: DingTalk checks those first.  A test message is
posted only when asked (``postTestMessage``), and it carries one of the robot's keywords.
For the Alibaba Cloud account: one read-only signed call (Dysmsapi ``QuerySmsSignList``)
that proves the AccessKey pair, and whether each SMS profile's signature is approved.  The
HTTP ``Date`` headers of the answers tell how far this host's clock is off: DingTalk refuses
signatures more than an hour off, Alibaba Cloud requests more than 15 minutes off.

Every check has a deadline (the resource's own timeout, at most MAX_CHECK_SECONDS), the
resources are checked concurrently, one failing resource never stops the others, and every
text of the result passes through a redactor that knows every secret of the config.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import socket
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import NotifyMessageError, ParameterError
from .params import as_list, as_text, is_blank, reject_unknown
from .parameters import TEST_CONNECTION_PARAMETERS
from .result import Redactor, printable

if TYPE_CHECKING:
    import httpx

    from .aliyun.account import AliyunAccount
    from .channels.dingtalk.config import DingTalkRobot, DingTalkSettings
    from .channels.email.config import SmtpInstance
    from .config.pack import PackConfig

__all__ = ["Check", "CheckReport", "check_connection", "MAX_CHECK_SECONDS", "CLOCK_LIMITS",
           "TEST_MESSAGE"]

MAX_CHECK_SECONDS = 30.0
CLOCK_WARN_SECONDS = 60.0
# how far off a clock may be before the service refuses signed requests
CLOCK_LIMITS = {"dingtalk": 3600.0, "aliyun": 900.0}
TEST_MESSAGE = "notify_message testConnection: a test message from {host}; nobody needs to act."
# DingTalk shows a robot's secret as SEC followed by a long run of hexadecimal digits (64
# in the secrets we have seen); a secret cut short when copied, or with spaces, is not that
_SECRET_FORM = re.compile(r"^SEC[0-9A-Fa-f]{32,}$")
_MAX_KEYWORDS = 10          # DingTalk's custom keywords: up to 10 per robot
_MAX_ANSWER = 64 * 1024
_SIGN_LIST_PAGE = 50        # QuerySmsSignList's largest PageSize
_FLAG_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass(frozen=True)
class Check:
    """One row of the table: what was checked on which resource, and what to do about it."""

    resource: str
    check: str
    ok: bool
    detail: str
    what_to_do: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "check": self.check, "ok": self.ok,
                "detail": self.detail, "what_to_do": self.what_to_do}


@dataclass(frozen=True)
class CheckReport:
    checks: tuple[Check, ...] = ()
    error: str = ""

    @property
    def status(self) -> bool:
        return not self.error and bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def message(self) -> str:
        if self.error:
            return f"Nothing was checked: {self.error}"
        if not self.checks:
            return "Nothing was checked: the pack config has no SMTP instance, DingTalk robot " \
                   "or Alibaba Cloud account"
        failed = [c for c in self.checks if not c.ok]
        if not failed:
            return f"All {len(self.checks)} checks passed."
        lines = [f"{len(failed)} of {len(self.checks)} checks failed:"]
        lines += [f"- {c.resource} {c.check}: {c.detail}"
                  + (f" ({c.what_to_do})" if c.what_to_do else "") for c in failed]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "status": self.status,
                "checks": [c.to_dict() for c in self.checks]}


def check_connection(params: Mapping[str, Any],
                     config: Mapping[str, Any] | PackConfig | None) -> CheckReport:
    """Check every resource of the config that ``resources`` selects (all by default)."""
    from .config.pack import PackConfig, raw_secrets

    try:
        present = {k: v for k, v in (params or {}).items() if v is not None}
        reject_unknown(present, TEST_CONNECTION_PARAMETERS, "testConnection")
        post = _flag("postTestMessage", present.get("postTestMessage"))
        pack_config = config if isinstance(config, PackConfig) else PackConfig.from_mapping(config)
        selected = _select(pack_config, present.get("resources"))
    except NotifyMessageError as exc:
        mapping = config.mapping if isinstance(config, PackConfig) else config
        return CheckReport(error=Redactor(raw_secrets(mapping))(str(exc)))
    redactor = _redactor(pack_config)
    checks = asyncio.run(_run(pack_config, selected, post))
    return CheckReport(tuple(Check(c.resource, c.check, c.ok,
                                   printable(redactor(c.detail), 1000),
                                   printable(redactor(c.what_to_do), 1000)) for c in checks))


# --- which resources ------------------------------------------------------------------------

def _flag(name: str, value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    word = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if word not in _FLAG_WORDS:
        raise ParameterError(name, "expected true or false")
    return _FLAG_WORDS[word]


def _resources(config: PackConfig) -> list[tuple[str, str, Any]]:
    """(kind, name, the parsed resource) of every resource in the config."""
    found: list[tuple[str, str, Any]] = [("smtp", i.assetname, i) for i in config.smtp_instances]
    found += [("dingtalk", r.name, r) for r in config.dingtalk.robots]
    if config.aliyun is not None:
        found.append(("aliyun", "aliyun", config.aliyun))
    return found


def resource_name(kind: str, name: str) -> str:
    return kind if kind == name else f"{kind}:{name}"


def _select(config: PackConfig, value: Any) -> list[tuple[str, str, Any]]:
    """The resources ``resources`` names: ``smtp``, ``dingtalk``, ``aliyun`` (every one of a
    kind), ``smtp:NAME`` / ``dingtalk:NAME``, or a bare NAME; blank: all of them."""
    every = _resources(config)
    if is_blank(value):
        return every
    chosen: list[tuple[str, str, Any]] = []
    for i, entry in enumerate(as_list("resources", value)):
        text = as_text("resources", entry).strip()
        matches = [r for r in every if text in (r[0], r[1], resource_name(r[0], r[1]))]
        if not matches:
            known = ", ".join(resource_name(k, n) for k, n, _ in every) or "none configured"
            raise ParameterError(f"resources[{i}]", f"{text!r} names no resource of the pack "
                                 f"config; expected smtp, dingtalk, aliyun or one of: {known}")
        chosen += [r for r in matches if r not in chosen]
    return chosen


# --- running the checks ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Clock:
    service: str        # dingtalk / aliyun: whose limit applies
    host: str
    offset: float       # the server's clock minus ours, in seconds


class _Run:
    def __init__(self, config: PackConfig, post: bool) -> None:
        self.config = config
        self.post = post
        self.clocks: list[_Clock] = []
        self._clients: dict[tuple[str, bool], httpx.AsyncClient] = {}

    def http(self, ca_bundle: str, verify: bool = True) -> httpx.AsyncClient:
        import httpx

        from .runtime import client_tls_context

        key = (ca_bundle, verify)
        if key not in self._clients:
            self._clients[key] = httpx.AsyncClient(
                verify=client_tls_context(ca_bundle, verify=verify), follow_redirects=False,
                trust_env=False)
        return self._clients[key]

    async def close(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self._clients.values()))

    async def fetch(self, service: str, client: httpx.AsyncClient, url: str, *, content: bytes,
                    headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        """POST within one deadline; the answer's Date header is kept for the clock check."""
        async def exchange() -> tuple[int, bytes, str]:
            async with client.stream("POST", url, content=content, headers=dict(headers),
                                     timeout=timeout) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_ANSWER:
                        raise ValueError(f"the answer is over {_MAX_ANSWER} bytes")
                return response.status_code, body, response.headers.get("date", "")

        sent = time.time()
        status, body, date = await asyncio.wait_for(exchange(), timeout=timeout)
        received = time.time()
        parsed = email.utils.parsedate_to_datetime(date) if date else None
        if parsed is not None and parsed.tzinfo is not None:
            # the Date header has whole seconds: the middle of the exchange is our best guess
            self.clocks.append(_Clock(service, _host(url),
                                      parsed.timestamp() - (sent + received) / 2))
        return status, body


async def _run(config: PackConfig, selected: Sequence[tuple[str, str, Any]], post: bool
               ) -> list[Check]:
    run = _Run(config, post)
    jobs: list[Awaitable[list[Check]]] = []
    for kind, name, resource in selected:
        label = resource_name(kind, name)
        if kind == "smtp":
            jobs.append(_bounded(label, "connect", resource.timeout, _smtp(label, resource)))
        elif kind == "dingtalk":
            jobs.append(_bounded(label, "reach", config.dingtalk.timeout,
                                 _robot(label, resource, config.dingtalk, run)))
        else:
            jobs.append(_bounded(label, "access key", resource.timeout,
                                 _aliyun(label, resource, config, run)))
    try:
        rows = [row for batch in await asyncio.gather(*jobs) for row in batch]
    finally:
        await run.close()
    return rows + _clock_rows(run.clocks)


async def _bounded(resource: str, check: str, timeout: float, work: Awaitable[list[Check]]
                   ) -> list[Check]:
    """The resource's checks, or one failed row when it overruns its deadline or breaks:
    one resource never takes the others' results with it."""
    limit = min(timeout, MAX_CHECK_SECONDS) * 3 + 1  # a resource makes up to three exchanges
    try:
        return await asyncio.wait_for(work, timeout=limit)
    except asyncio.TimeoutError:
        return [Check(resource, check, False, f"no answer within {limit:g}s",
                      "check the host, the port and that a firewall lets the connection out")]
    except Exception as exc:  # noqa: BLE001  (a check never raises: its row says what broke)
        return [Check(resource, check, False,
                      f"the check failed unexpectedly ({type(exc).__name__})",
                      "run with --debug on the command line, or report it")]


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


def _redactor(config: PackConfig) -> Redactor:
    from .channels.email.send import auth_forms

    secrets = list(config.secrets())
    for instance in config.smtp_instances:
        secrets += auth_forms(instance.username, instance.password)
    return Redactor(secrets)


# --- SMTP -----------------------------------------------------------------------------------

async def _smtp(label: str, instance: SmtpInstance) -> list[Check]:
    import aiosmtplib

    from .channels.email.send import explain_failure
    from .runtime import client_tls_context

    timeout = min(instance.timeout, MAX_CHECK_SECONDS)
    client = aiosmtplib.SMTP(
        hostname=instance.host, port=instance.port, use_tls=instance.tls == "implicit",
        start_tls=instance.tls == "starttls",
        tls_context=(client_tls_context(instance.ca_bundle, verify=instance.verify)
                     if instance.tls != "plain" else None),
        timeout=timeout)
    tls = {"implicit": "implicit TLS", "starttls": "STARTTLS", "plain": "no TLS"}[instance.tls]
    rows: list[Check] = []
    try:
        try:
            await asyncio.wait_for(client.connect(), timeout=timeout)
        except Exception as exc:  # noqa: BLE001  (every way of failing is a row)
            _, detail = explain_failure(exc, instance)
            # most explanations say what to do already: the row does not say it twice
            advised = any(word in detail for word in ("check ", "set ", "use ", "needs "))
            return [Check(label, "connect", False, detail, "" if advised else
                          "check emailSendServer (host:port) and tls: 465 speaks implicit TLS, "
                          "587 STARTTLS")]
        rows.append(Check(label, "connect", True, f"{instance.host}:{instance.port} answered "
                          f"over {tls}"))
        try:
            await asyncio.wait_for(client.login(instance.username, instance.password),
                                   timeout=timeout)
        except Exception as exc:  # noqa: BLE001
            _, detail = explain_failure(exc, instance)
            rows.append(Check(label, "login", False, detail,
                              "check emailUsername and emailPassword (163 / QQ mail: the "
                              "authorization code of SMTP service, not the web password)"))
            return rows
        rows.append(Check(label, "login", True, f"logged in as {instance.username}; nothing "
                          "was sent"))
        return rows
    finally:
        if client.is_connected:
            try:
                await asyncio.wait_for(client.quit(), timeout=min(timeout, 5.0))
            except Exception:  # noqa: BLE001  (QUIT is a courtesy)
                client.close()


# --- DingTalk -------------------------------------------------------------------------------

async def _robot(label: str, robot: DingTalkRobot, settings: DingTalkSettings, run: _Run
                 ) -> list[Check]:
    from .channels.dingtalk.protocol import DEFAULT_HOST

    webhook = robot.webhook
    relay = webhook.netloc != DEFAULT_HOST
    rows = [Check(label, "webhook", True, f"{webhook.masked}" + (
        " (an on-premises relay listed in dingtalk_allowed_hosts)" if relay else ""))]
    if not robot.secret:
        rows.append(Check(label, "secret", True, "no secret: requests are not signed",
                          "if the robot uses signing (加签), copy its SEC... secret into "
                          "secret; DingTalk refuses unsigned requests to such a robot"))
    elif not _SECRET_FORM.match(robot.secret):
        rows.append(Check(label, "secret", False, "the secret is not in the form DingTalk "
                          "shows (SEC followed by at least 32 hexadecimal digits)",
                          "copy the secret again from the robot's security settings (加签)"))
    else:
        rows.append(Check(label, "secret", True, "signing secret in DingTalk's form"))
    if len(robot.keywords) > _MAX_KEYWORDS:
        rows.append(Check(label, "keywords", False, f"{len(robot.keywords)} keywords; a robot "
                          f"has at most {_MAX_KEYWORDS}",
                          "list exactly the robot's custom keywords (自定义关键词)"))
    elif robot.keywords:
        rows.append(Check(label, "keywords", True, f"{len(robot.keywords)} keyword(s): messages "
                          "without one are refused before sending"))
    else:
        rows.append(Check(label, "keywords", True, "no keywords configured",
                          "if the robot's security settings use custom keywords, list them "
                          "under keywords so that messages are checked before sending"))
    # the probe: token and signature, with a message DingTalk refuses for its missing content
    probe = {"msgtype": "text", "text": {"content": ""}}
    answer = await _post_robot(robot, settings, run, probe)
    if isinstance(answer, str):
        rows.append(Check(label, "token and signature", False, answer,
                          "check the webhook's host, DNS and that HTTPS may leave this host"))
        return rows
    errcode, errmsg = answer
    verdict = _probe_verdict(errcode, errmsg)
    accepted = "the access_token and the signature" if robot.secret else "the access_token"
    rows.append(Check(label, "token and signature", verdict is None,
                      (f"DingTalk accepted {accepted} (errcode {errcode} to a probe without "
                       "content: nothing was posted)")
                      if verdict is None else f"DingTalk answered errcode {errcode} ({errmsg})",
                      verdict or ""))
    if run.post and verdict is None:
        rows.append(await _test_message(label, robot, settings, run))
    return rows


def _probe_verdict(errcode: int, errmsg: str) -> str | None:
    """None when the probe's answer proves the token and signature (DingTalk checks those
    before the content); else what to do."""
    from .channels.dingtalk.protocol import explain_errcode

    if errcode == 40035 or errcode == 0 or (errcode == 310000 and "keywords" in errmsg):
        return None
    return explain_errcode(errcode, errmsg)[1]


async def _test_message(label: str, robot: DingTalkRobot, settings: DingTalkSettings,
                        run: _Run) -> Check:
    text = TEST_MESSAGE.format(host=socket.gethostname())
    if robot.keywords:  # the robot refuses a message without one of them
        text = f"{robot.keywords[0]} {text}"
    answer = await _post_robot(robot, settings, run,
                               {"msgtype": "text", "text": {"content": text}})
    if isinstance(answer, str):
        return Check(label, "test message", False, answer, "send again later")
    errcode, errmsg = answer
    if errcode == 0:
        return Check(label, "test message", True, "posted to the group (errcode 0)")
    from .channels.dingtalk.protocol import explain_errcode

    return Check(label, "test message", False, f"DingTalk answered errcode {errcode} "
                 f"({errmsg})", explain_errcode(errcode, errmsg)[1])


async def _post_robot(robot: DingTalkRobot, settings: DingTalkSettings, run: _Run,
                      body: Mapping[str, Any]) -> tuple[int, str] | str:
    """(errcode, errmsg), or why there is none."""
    from .channels.dingtalk.protocol import encode_body, signed_query

    url = robot.webhook.url
    if robot.secret:
        url += "&" + signed_query(robot.secret, int(time.time() * 1000))
    where = robot.webhook.netloc
    timeout = min(settings.timeout, MAX_CHECK_SECONDS)
    try:
        status, raw = await run.fetch("dingtalk", run.http(settings.ca_bundle), url,
                                      content=encode_body(body), timeout=timeout,
                                      headers={"Content-Type": "application/json; charset=utf-8"})
    except asyncio.TimeoutError:
        return f"no answer from {where} within {timeout:g}s"
    except Exception as exc:  # noqa: BLE001  (connection refused, TLS, DNS...)
        return _connection_problem(exc, where)
    if status != 200:
        return f"{where} answered HTTP {status}, not DingTalk's HTTP 200 with an errcode"
    try:
        answer = json.loads(raw.decode("utf-8"))
        errcode = answer["errcode"]
        if isinstance(errcode, bool) or not isinstance(errcode, int):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        return f"{where} answered without DingTalk's errcode: is the webhook a DingTalk robot?"
    return errcode, str(answer.get("errmsg", ""))[:200]


def _connection_problem(exc: BaseException, where: str) -> str:
    import ssl

    from .runtime import exception_chain

    for cause in exception_chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (f"the certificate of {where} could not be verified "
                    f"({cause.verify_message}): for a private relay set its CA bundle")
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {where}"
    return f"could not talk to {where} ({type(exc).__name__})"


# --- Alibaba Cloud --------------------------------------------------------------------------

async def _aliyun(label: str, account: AliyunAccount, config: PackConfig, run: _Run
                  ) -> list[Check]:
    from .aliyun.client import explain_common_error
    from .aliyun.signing import DYSMSAPI, percent_encode, sign_params

    action = "QuerySmsSignList"
    url = account.url(DYSMSAPI)
    where = _host(url)
    timeout = min(account.timeout, MAX_CHECK_SECONDS)
    signed = sign_params("POST", DYSMSAPI, action, {"PageIndex": 1, "PageSize": _SIGN_LIST_PAGE},
                         account.access_key_id, account.access_key_secret,
                         region_id=account.region_id)
    content = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in signed.items())
    try:
        status, raw = await run.fetch(
            "aliyun", run.http(account.ca_bundle, account.verify), url,
            content=content.encode("ascii"), timeout=timeout,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json"})
    except asyncio.TimeoutError:
        return [Check(label, "access key", False, f"no answer from {where} within {timeout:g}s",
                      "check aliyun.endpoints and that HTTPS may leave this host")]
    except Exception as exc:  # noqa: BLE001
        return [Check(label, "access key", False, _connection_problem(exc, where),
                      "check aliyun.endpoints and that HTTPS may leave this host")]
    try:
        answer = json.loads(raw.decode("utf-8"))
        if not isinstance(answer, dict):
            raise ValueError
    except ValueError:
        return [Check(label, "access key", False, f"{where} answered HTTP {status} without "
                      "an Alibaba Cloud JSON body", "check aliyun.endpoints")]
    code = str(answer.get("Code") or "")
    said = f"{where} answered {code or status} to {action}"
    if code == "Forbidden.RAM":
        # the gateway checks the key and the signature before the permission
        return [Check(label, "access key", True, f"{said}: the AccessKey and its signature "
                      "are valid, but its RAM user may not list SMS signatures",
                      f"grant dysms:{action} (read only) to check signatures here; sending "
                      "needs dysms:SendSms")]
    if code != "OK":
        hint = explain_common_error(code) or "see Alibaba Cloud's error center for the code"
        # SignatureDoesNotMatch quotes the server's string to sign (the whole request): the
        # gist only
        message = str(answer.get("Message") or "").split("server string to sign is:")[0]
        return [Check(label, "access key", False, f"{said}: {message.rstrip(' .')}."[:300],
                      hint)]
    rows = [Check(label, "access key", True, f"{said}: the AccessKey pair is valid")]
    signs = {str(s.get("SignName")): str(s.get("AuditStatus"))
             for s in answer.get("SmsSignList") or [] if isinstance(s, Mapping)}
    for profile in config.sms_profiles:
        state = signs.get(profile.sign_name)
        check = f"sign name of {profile.name}"
        if state == "AUDIT_STATE_PASS":
            rows.append(Check(label, check, True, f"{profile.sign_name} is approved"))
        elif state is None:
            more = int(answer.get("TotalCount") or 0) > _SIGN_LIST_PAGE
            rows.append(Check(label, check, more, f"{profile.sign_name} is not among the "
                              f"account's {'first ' if more else ''}{len(signs)} signature(s)",
                              "" if more else "check sign_name against the SMS console's "
                              "signatures (签名管理)"))
        else:
            rows.append(Check(label, check, False, f"{profile.sign_name} is {state}",
                              "SendSms refuses a signature that is not approved "
                              "(AUDIT_STATE_PASS): wait for the review or fix it"))
    return rows


# --- the clock ------------------------------------------------------------------------------

def _clock_rows(clocks: Sequence[_Clock]) -> list[Check]:
    rows: list[Check] = []
    seen: set[str] = set()
    for clock in clocks:
        if clock.host in seen:
            continue
        seen.add(clock.host)
        limit = CLOCK_LIMITS[clock.service]
        off = abs(clock.offset)
        direction = "behind" if clock.offset > 0 else "ahead of"
        detail = (f"within 2 s of {clock.host}'s clock (its Date header)" if off <= 2 else
                  f"{off:.0f} s {direction} {clock.host}'s clock (its Date header)")
        todo = ""
        if off > CLOCK_WARN_SECONDS:
            service = "DingTalk" if clock.service == "dingtalk" else "Alibaba Cloud"
            todo = (f"synchronise this host's clock with NTP (chronyd or systemd-timesyncd): "
                    f"{service} refuses signatures more than {limit / 60:g} minutes off")
        rows.append(Check("clock", f"vs {clock.host}", off <= limit, detail, todo))
    return rows
