"""A loopback HTTP(S) server that answers like Alibaba Cloud's RPC API gateway for SMS
(SendSms, Dysmsapi 2017-05-25) and voice (SingleCallByTts, Dyvmsapi 2017-05-25).

It checks what the real gateway checks, in the same order, and answers the same bodies:

- the common parameters, the AccessKeyId (``InvalidAccessKeyId.NotFound``, HTTP 404), the
  signature, recomputed here independently of the pack's code from the published algorithm
  (``SignatureDoesNotMatch``, HTTP 400, quoting the server's string to sign as Alibaba does),
  the timestamp (15 minutes, ``InvalidTimeStamp.Expired``), nonce reuse
  (``SignatureNonceUsed``), the API version and action;
- then the action: phone number formats and count, the approved signatures, templates and
  caller numbers of the fake account, the template variables, TtsParam's length, PlayTimes /
  Volume / Speed ranges, and the per-number voice limit of one call a minute; business errors
  come back as HTTP 200 with ``Code`` set, as SendSms does.

This server is an oracle for the pack's Alibaba Cloud client and its SMS and voice channels,
so it imports nothing from the pack (tests/test_oracles_are_independent.py keeps it so); the
documented limits are restated below, each from Alibaba Cloud's public API reference:

- the SendSms API reference (Dysmsapi 2017-05-25, help.aliyun.com/document_detail/55284):
  PhoneNumbers is comma-separated, "上限为1000个手机号码" (at most 1000 numbers).
- the SingleCallByTts API reference (Dyvmsapi 2017-05-25): PlayTimes "取值范围为1~3",
  Volume "取值范围为0~100" (default 100), Speed from -500 to 500 (the current reference
  marks Speed deprecated), and TtsParam shorter than 250 characters.
- the QuerySmsSignList API reference (Dysmsapi 2017-05-25, help.aliyun.com/document_detail/
  419282): PageIndex (default 1) and PageSize ("取值范围:1~50", default 10), both optional;
  the answer's SmsSignList entries carry SignName, AuditStatus (AUDIT_STATE_INIT / _PASS /
  _NOT_PASS / _CANCEL), CreateDate, BusinessType and Reason, with TotalCount, CurrentPage
  and PageSize; a read-only action (RAM access level get), dysms:QuerySmsSignList.
- the RPC signature method (签名机制: HMAC-SHA1 over the sorted, percent-encoded query,
  keyed with ``AccessKeySecret + "&"``), the common request parameters, and the gateway's
  error codes with their HTTP status and words (InvalidTimeStamp.Expired past 15 minutes).

``AliyunBehaviour`` scripts the rest: a business error for chosen numbers or for every
request, API throttling for the first requests, latency, dropped connections, HTTP 500.

The server runs in a child process of its own, as the SMTP server does: StackStorm's test
base classes monkey patch the test process with eventlet, so a server thread there would be
a greenlet sharing the client's event loop.  The child spools what it accepted to a
directory (one JSON record per request, written before the answer goes out) and reloads
``behaviour.json`` from there when ``LocalAliyunServer.update()`` changes it.
``LocalAliyunServer.reset()`` puts a running server back the way it was made, without a new
process: the behaviour it was given, nothing received, no nonces used, no calls counted.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import re
import threading
import time
import uuid
from calendar import timegm
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

from testkit.child import (
    ChildServer,
    ResetRequests,
    Spool,
    announce_ready,
    child_parser,
    from_json,
)
from testkit.tls import server_context

__all__ = ["AliyunBehaviour", "ReceivedCall", "LocalAliyunServer", "independent_signature",
           "BUSINESS_MESSAGES"]

# ------------------------------------------------------------- Alibaba Cloud's documented limits
# Restated from the API reference (see the module docstring), never imported from the pack.
SEND_SMS_NUMBERS = 1000                  # SendSms: PhoneNumbers, comma-separated, at most
TTS_PARAM_CHARS = 250                    # SingleCallByTts: TtsParam is shorter than this
CALL_RANGES = {                          # SingleCallByTts: the integers each one takes
    "PlayTimes": range(1, 3 + 1),
    "Volume": range(0, 100 + 1),
    "Speed": range(-500, 500 + 1),
}

TIMESTAMP_SKEW = 15 * 60
VERSIONS = {"SendSms": "2017-05-25", "SingleCallByTts": "2017-05-25",
            "QuerySmsSignList": "2017-05-25",
            "RunNotifyComponentWithMessageCenter": "2022-07-28"}
SOAR_EVENTS = ("yundun_soar_incident_generate", "yundun_soar_alert_generate",
               "yundun_soar_incident_update")
SOAR_CHANNELS = ("sms", "email", "webhook", "pmsg")
COMMON = ("AccessKeyId", "Action", "Format", "SignatureMethod", "SignatureNonce",
          "SignatureVersion", "Timestamp", "Version")
_CN_MOBILE = re.compile(r"^(?:\+86|0086|86)?1[3-9]\d{9}$")
_CN_LANDLINE = re.compile(r"^0[1-9]\d{8,10}$")
_INTERNATIONAL = re.compile(r"^[1-9]\d{6,14}$")

# Messages as Alibaba words them (HTTP status, Message) for the gateway's own errors
GATEWAY_ERRORS = {
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    "SignatureDoesNotMatch": (400, "Specified signature is not matched with our calculation. "
                                   "server string to sign is:{sts}"),
    "IncompleteSignature": (400, "The request signature does not conform to Aliyun standards."),
    "InvalidTimeStamp.Expired": (400, "Specified time stamp or date value is expired."),
    "InvalidTimeStamp.Format": (400, "Specified time stamp or date value is not well formatted."),
    "SignatureNonceUsed": (400, "Specified signature nonce was used already."),
    "MissingParameter": (400, "The input parameter \"{name}\" that is mandatory for processing "
                              "this request is not supplied."),
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "InvalidVersion": (400, "Specified parameter Version is not valid."),
    "InvalidAction.NotFound": (404, "Specified api is not found, please check your url and "
                                    "method."),
    "InternalError": (500, "The request processing has failed due to some unknown error."),
    "InvalidParameter": (400, "The specified parameter \"{name}\" is not valid."),
    "Forbidden.RAM": (403, "User not authorized to operate on the specified resource, or "
                           "this API does not support RAM."),
}
BUSINESS_MESSAGES = {
    "isv.BUSINESS_LIMIT_CONTROL": "触发分钟级流控Permits:1",
    "isv.DAY_LIMIT_CONTROL": "触发日发送限额",
    "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
    "isv.MOBILE_COUNT_OVER_LIMIT": "手机号码数量超过限制",
    "isv.SMS_SIGNATURE_ILLEGAL": "该账号下找不到对应签名",
    "isv.SMS_TEMPLATE_ILLEGAL": "该账号下找不到对应模板",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板变量缺少对应参数值",
    "isv.INVALID_JSON_PARAM": "JSON参数不合法，只接受字符串值",
    "isv.AMOUNT_NOT_ENOUGH": "账户余额不足",
    "isv.TTS_TEMPLATE_ILLEGAL": "TTS模板不合法",
    "isv.DISPLAY_NUMBER_ILLEGAL": "号显不合法",
    "isv.PARAM_LENGTH_LIMIT": "参数长度受限",
    "isv.INVALID_PARAMETERS": "参数异常",
}


def _pct(value: str) -> str:
    # the published rule: UTF-8, only A-Z a-z 0-9 - _ . ~ unencoded, space as %20
    return quote(value, safe="~")


def independent_signature(method: str, params: dict[str, str], secret: str) -> tuple[str, str]:
    """(signature, string to sign) as the gateway computes them."""
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    query = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in pairs)
    to_sign = f"{method}&{_pct('/')}&{_pct(query)}"
    mac = hmac.new((secret + "&").encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode(), to_sign


@dataclass
class AliyunBehaviour:
    accounts: dict[str, str] = field(default_factory=dict)      # AccessKeyId -> secret
    sign_names: tuple[str, ...] = ("云安全中心",)
    sms_templates: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"SMS_460000001": ("content",)})    # code -> its variables
    tts_templates: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"TTS_460000001": ("content",)})
    show_numbers: tuple[str, ...] = ("057112345678",)
    business_code: str | None = None          # answer every action with this Code
    number_codes: dict[str, str] = field(default_factory=dict)  # number -> Code
    throttle_first: int = 0                   # Throttling.User for the first N requests
    latency: float = 0.0                      # seconds before answering
    drop_first: int = 0                       # close the first N connections unanswered
    http_500_first: int = 0                   # InternalError (HTTP 500) for the first N
    voice_calls_per_minute: int = 1           # per called number
    clock_offset: float = 0.0                 # seconds the gateway's clock is ahead
    soar_playbooks: tuple[str, ...] = ("c5c88b5e-97ca-435d-8c20-000000000001",)
    soar_forbidden: bool = False              # the RAM user lacks SOAR permissions
    forbidden_actions: tuple[str, ...] = ()   # Forbidden.RAM for these actions
    pending_sign_names: tuple[str, ...] = ()  # QuerySmsSignList: AUDIT_STATE_INIT

    def now(self) -> float:
        return time.time() + self.clock_offset


@dataclass(frozen=True)
class ReceivedCall:
    """A request that passed the gateway checks (signature and all)."""

    method: str
    action: str
    params: dict[str, str]


class LocalAliyunServer:
    """``with LocalAliyunServer(behaviour, server_pem) as server:`` -> ``server.url``;
    ``server_pem`` (key and certificate chain) None means plain HTTP."""

    def __init__(self, behaviour: AliyunBehaviour, server_pem: str | None = None) -> None:
        self.behaviour = behaviour
        self.server_pem = server_pem
        self._made = copy.deepcopy(behaviour)
        self._child = ChildServer("testkit.aliyun_server",
                                  ["--server-pem", server_pem] if server_pem else [])
        self.update()

    @property
    def port(self) -> int:
        return self._child.port

    @property
    def url(self) -> str:
        return f"{'https' if self.server_pem else 'http'}://127.0.0.1:{self.port}/"

    def update(self, **changes: object) -> None:
        """Change the behaviour of the running server (it reloads before each request)."""
        for name, value in changes.items():
            setattr(self.behaviour, name, value)
        self._child.spool.put("behaviour.json", asdict(self.behaviour))

    def reset(self) -> None:
        """Put the running server back the way it was made: the behaviour given to the
        constructor; nothing received (requests, connections, calls) and the gateway's own
        memory gone: nonces used, calls per number, the "first N requests" counts.  Returns
        once the child has confirmed; what a request still in flight would spool is dropped."""
        self.behaviour = copy.deepcopy(self._made)
        self._child.spool.put("behaviour.json", asdict(self.behaviour))
        self._child.reset()

    def reset_as(self, behaviour: AliyunBehaviour) -> None:
        """Reset, and from now on be as if made with this behaviour: a server kept running
        for a whole test session serves each test as that test made it."""
        self._made = copy.deepcopy(behaviour)
        self.reset()

    @property
    def received(self) -> list[ReceivedCall]:
        return [ReceivedCall(**record) for record in self._child.spool.read("call")]

    @property
    def requests(self) -> int:
        return len(self._child.spool.read("request"))

    @property
    def connections(self) -> int:
        return len(self._child.spool.read("connection"))

    def __enter__(self) -> LocalAliyunServer:
        self._child.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.__exit__()


# --------------------------------------------------------------------------- the child


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    gateway: _Gateway   # the one the request being handled started with

    def date_time_string(self, timestamp: float | None = None) -> str:
        # the Date header by the gateway's own clock (clock_offset), as a real server's is
        gateway = getattr(self.server, "gateway", None)
        offset = gateway.behaviour.clock_offset if gateway is not None else 0.0
        return super().date_time_string(time.time() + offset if timestamp is None else timestamp)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def setup(self) -> None:
        super().setup()
        self.server.gateway.spool.write("connection", {})

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET", dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True)))

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        if not (self.headers.get("Content-Type") or "").startswith(
                "application/x-www-form-urlencoded"):
            self._gateway_error("MissingParameter", name="Action")
            return
        self._handle("POST", dict(parse_qsl(body, keep_blank_values=True)))

    def _handle(self, method: str, params: dict[str, str]) -> None:
        gateway = self.gateway = self.server.gateway
        behaviour = gateway.reload()
        number = gateway.spool.write("request", {})
        if behaviour.latency:
            time.sleep(behaviour.latency)
        if number <= behaviour.drop_first:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if number <= behaviour.http_500_first:
            self._gateway_error("InternalError")
            return
        problem = self._check_gateway(method, params)
        if problem:
            code, fields = problem
            self._gateway_error(code, **fields)
            return
        if number <= behaviour.throttle_first:
            self._gateway_error("Throttling.User")
            return
        gateway.spool.write("call", {"method": method, "action": params["Action"],
                                     "params": params})
        if params["Action"] == "RunNotifyComponentWithMessageCenter":
            self._run_notify_with_message_center(params)
            return
        if params["Action"] in behaviour.forbidden_actions:
            self._gateway_error("Forbidden.RAM")
            return
        if params["Action"] == "QuerySmsSignList":
            self._query_sms_sign_list(params)
            return
        action = {"SendSms": self._send_sms, "SingleCallByTts": self._single_call_by_tts}
        self._answer(200, action[params["Action"]](params))

    def _check_gateway(self, method: str,
                       params: dict[str, str]) -> tuple[str, dict[str, str]] | None:
        behaviour = self.gateway.behaviour
        if "Signature" not in params or params.get("SignatureMethod") != "HMAC-SHA1" \
                or params.get("SignatureVersion") != "1.0":
            return ("IncompleteSignature", {})
        for name in COMMON:
            if not params.get(name):
                return ("MissingParameter", {"name": name})
        secret = behaviour.accounts.get(params["AccessKeyId"])
        if secret is None:
            return ("InvalidAccessKeyId.NotFound", {})
        expected, to_sign = independent_signature(method, params, secret)
        if not hmac.compare_digest(expected, params["Signature"]):
            return ("SignatureDoesNotMatch", {"sts": to_sign})
        try:
            stamp = timegm(time.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return ("InvalidTimeStamp.Format", {})
        if abs(behaviour.now() - stamp) > TIMESTAMP_SKEW:
            return ("InvalidTimeStamp.Expired", {})
        with self.gateway.lock:
            if params["SignatureNonce"] in self.gateway.nonces:
                return ("SignatureNonceUsed", {})
            self.gateway.nonces.add(params["SignatureNonce"])
        if params["Action"] not in VERSIONS:
            return ("InvalidAction.NotFound", {})
        if params["Version"] != VERSIONS[params["Action"]]:
            return ("InvalidVersion", {})
        if params["Format"].upper() != "JSON":
            return ("MissingParameter", {"name": "Format"})
        return None

    # --- actions ---------------------------------------------------------------------------

    def _send_sms(self, params: dict[str, str]) -> dict[str, str]:
        behaviour = self.gateway.behaviour
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(name):
                return self._business("isv.INVALID_PARAMETERS")
        numbers = params["PhoneNumbers"].split(",")
        if len(numbers) > SEND_SMS_NUMBERS:
            return self._business("isv.MOBILE_COUNT_OVER_LIMIT")
        if not all(_CN_MOBILE.match(n) or _INTERNATIONAL.match(n) for n in numbers):
            return self._business("isv.MOBILE_NUMBER_ILLEGAL")
        if params["SignName"] not in behaviour.sign_names:
            return self._business("isv.SMS_SIGNATURE_ILLEGAL")
        variables = behaviour.sms_templates.get(params["TemplateCode"])
        if variables is None:
            return self._business("isv.SMS_TEMPLATE_ILLEGAL")
        problem = _template_problem(params.get("TemplateParam", ""), variables)
        if problem:
            return self._business(problem)
        problem = self._scripted(numbers)
        if problem:
            return self._business(problem)
        calls = self.gateway.spool.count("call")
        return {"Code": "OK", "Message": "OK", "RequestId": _request_id(),
                "BizId": f"{int(behaviour.now() * 1000) % 10**12}^{calls}"}

    def _single_call_by_tts(self, params: dict[str, str]) -> dict[str, str]:
        behaviour = self.gateway.behaviour
        called = params.get("CalledNumber", "")
        if not params.get("TtsCode") or not called:
            return self._business("isv.INVALID_PARAMETERS")
        if not (_CN_MOBILE.match(called) or _CN_LANDLINE.match(called)):
            return self._business("isv.MOBILE_NUMBER_ILLEGAL")
        show = params.get("CalledShowNumber")
        if show is not None and show not in behaviour.show_numbers:
            return self._business("isv.DISPLAY_NUMBER_ILLEGAL")
        variables = behaviour.tts_templates.get(params["TtsCode"])
        if variables is None:
            return self._business("isv.TTS_TEMPLATE_ILLEGAL")
        tts_param = params.get("TtsParam", "")
        if len(tts_param) >= TTS_PARAM_CHARS:
            return self._business("isv.PARAM_LENGTH_LIMIT")
        problem = _template_problem(tts_param, variables)
        if problem:
            return self._business(problem)
        for name, allowed in CALL_RANGES.items():
            if name in params and _integer(params[name]) not in allowed:
                return self._business("isv.INVALID_PARAMETERS")
        problem = self._scripted([called])
        if problem:
            return self._business(problem)
        now = behaviour.now()
        with self.gateway.lock:
            recent = [t for t in self.gateway.calls.get(called, []) if now - t < 60]
            if len(recent) >= behaviour.voice_calls_per_minute:
                return self._business("isv.BUSINESS_LIMIT_CONTROL")
            self.gateway.calls[called] = recent + [now]
        calls = self.gateway.spool.count("call")
        return {"Code": "OK", "Message": "OK", "RequestId": _request_id(),
                "CallId": f"{int(now) % 10**9}^{calls}"}

    def _scripted(self, numbers: list[str]) -> str | None:
        behaviour = self.gateway.behaviour
        for n in numbers:
            if n in behaviour.number_codes:
                return behaviour.number_codes[n]
        return behaviour.business_code

    def _query_sms_sign_list(self, params: dict[str, str]) -> None:
        """The account's signatures, a page at a time (read only: nothing is changed)."""
        behaviour = self.gateway.behaviour
        page = _integer(params.get("PageIndex", "1"))
        size = _integer(params.get("PageSize", "10"))
        if page is None or page < 1:
            return self._gateway_error("InvalidParameter", name="PageIndex")
        if size is None or not 1 <= size <= 50:
            return self._gateway_error("InvalidParameter", name="PageSize")
        signs = [(name, "AUDIT_STATE_PASS") for name in behaviour.sign_names] + [
            (name, "AUDIT_STATE_INIT") for name in behaviour.pending_sign_names]
        shown = signs[(page - 1) * size:page * size]
        self._answer(200, {
            "RequestId": _request_id(), "Code": "OK", "Message": "OK",
            "TotalCount": len(signs), "CurrentPage": page, "PageSize": size,
            "SmsSignList": [{"SignName": name, "AuditStatus": status,
                             "CreateDate": "2024-01-08 16:44:13", "BusinessType": "通知类型",
                             "Reason": {"RejectInfo": "无审核备注"}}
                            for name, status in shown]})

    # --- answers ---------------------------------------------------------------------------

    def _run_notify_with_message_center(self, params: dict[str, str]) -> None:
        """SOAR's OpenAPI: required names as its SDK declares them, ChannelTypeList as the
        SDK flattens a list (ChannelTypeList.1, .2, ...), Params a JSON object."""
        behaviour = self.gateway.behaviour
        for name in ("ActionName", "Aliuid", "ComponentName", "EventId", "NodeName",
                     "PlaybookUuid"):
            if not params.get(name):
                return self._gateway_error("MissingParameter", name=name)
        if behaviour.soar_forbidden:
            return self._gateway_error("Forbidden.RAM")
        if params["EventId"] not in SOAR_EVENTS:
            return self._gateway_error("InvalidParameter", name="EventId")
        if params["PlaybookUuid"] not in behaviour.soar_playbooks:
            return self._gateway_error("InvalidParameter", name="PlaybookUuid")
        component = (params["ComponentName"], params["ActionName"])
        if component != ("NotifyMessage", "notifyByMessageCenter"):
            return self._gateway_error("InvalidParameter", name="ActionName")
        channels = [v for k, v in sorted(params.items()) if k.startswith("ChannelTypeList.")]
        if any(c not in SOAR_CHANNELS for c in channels) or "ChannelTypeList" in params:
            return self._gateway_error("InvalidParameter", name="ChannelTypeList")
        if params.get("Lang", "zh") not in ("zh", "en"):
            return self._gateway_error("InvalidParameter", name="Lang")
        try:
            variables = json.loads(params.get("Params") or "{}")
        except ValueError:
            variables = None
        if not isinstance(variables, dict):
            return self._gateway_error("InvalidParameter", name="Params")
        self._answer(200, {"RequestId": _request_id(), "Data": "{}"})

    def _business(self, code: str) -> dict[str, str]:
        return {"Code": code, "Message": BUSINESS_MESSAGES.get(code, code),
                "RequestId": _request_id()}

    def _gateway_error(self, code: str, **fields: str) -> None:
        status, message = GATEWAY_ERRORS[code]
        self._answer(status, {"RequestId": _request_id(), "HostId": self.headers.get("Host", ""),
                              "Code": code, "Message": message.format(**fields),
                              "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}"})

    def _answer(self, status: int, body: Mapping[str, object]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _template_problem(text: str, variables: tuple[str, ...]) -> str | None:
    try:
        values = json.loads(text) if text else {}
    except ValueError:
        return "isv.INVALID_JSON_PARAM"
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        return "isv.INVALID_JSON_PARAM"
    if any(not values.get(v) for v in variables):
        return "isv.TEMPLATE_MISSING_PARAMETERS"
    return None


def _integer(text: str) -> int | None:
    """A decimal integer as the gateway reads one (an optional minus sign, ASCII digits)."""
    digits = text[1:] if text.startswith("-") else text
    return int(text) if digits.isascii() and digits.isdigit() else None


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


class _Gateway:
    """What the child knows: the test's behaviour (reloaded from behaviour.json when it
    changes) and the gateway's own memory: nonces used, voice calls per number.  A reset
    replaces the whole of it; a request keeps the one it started with."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.lock = threading.Lock()
        self.behaviour = AliyunBehaviour()
        self._stamp: tuple[int, int, int] | None = None
        self.nonces: set[str] = set()
        self.calls: dict[str, list[float]] = {}

    def reload(self) -> AliyunBehaviour:
        with self.lock:
            stat = os.stat(os.path.join(self.spool.directory, "behaviour.json"))
            # each put() is a new file: its inode tells two writes within one mtime tick apart
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                self.behaviour = from_json(AliyunBehaviour, self.spool.get("behaviour.json"))
                self._stamp = stamp
            return self.behaviour


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, spool: Spool) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.gateway = _Gateway(spool)
        self.resets = ResetRequests(spool.directory)

    def service_actions(self) -> None:
        """Every turn of the accept loop: a reset the test asked for.  The old gateway's
        spool is retired first, so requests still holding it spool nothing from then on."""
        generation = self.resets.pending()
        if generation:
            gateway = _Gateway(self.gateway.spool.renewed())
            gateway.reload()
            self.gateway = gateway
            self.resets.confirm(generation)


def main() -> None:
    parser = child_parser()
    parser.add_argument("--server-pem")
    args = parser.parse_args()
    server = _Server(args.port, Spool(args.spool))
    if args.server_pem:
        context = server_context(args.server_pem)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    announce_ready()
    try:
        server.serve_forever(0.01)  # a reset waits for a turn of this loop
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
