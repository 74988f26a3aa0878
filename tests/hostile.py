"""What the hostile-input tests share: a corpus of named hostile values, hypothesis
strategies of generated garbage, configs whose endpoints are 127.0.0.1 ports where nothing
listens, a wall-clock guard, and the contract every result must keep.

The corpus is used through pytest parameters (its values are built lazily, by name; the two
200,000-item ones once, each test getting a new list of the same strings) rather than through
hypothesis: a list nested 10,000 deep or an integer of 10,000 digits cannot be repr()'d, so
hypothesis could not print such an example when it fails."""

import contextlib
import functools
import json
import logging
import math
import re
import threading
import time
import traceback
import urllib.parse

import pytest
from helpers import (
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    SMTP_CODE,
    SMTP_LOGIN,
    free_port,
)
from hypothesis import strategies as st

# --- the wall-clock guard -------------------------------------------------------------------

CALL_TIMEOUT = 5.0   # seconds; every call below refuses or fails fast against dead ports


def call_bounded(fn, *args, timeout=CALL_TIMEOUT, what="the call", **kwargs):
    """``fn(*args, **kwargs)`` in a daemon thread: its return value, or pytest.fail saying it
    raised (exception type and the top of the traceback) or did not return within
    ``timeout`` seconds (a hang)."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: B902 - every escape is the finding
            box["error"] = exc
            box["traceback"] = traceback.format_exc()

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"HANG: {what} did not return within {timeout:g}s", pytrace=False)
    if "error" in box:
        exc = box["error"]
        tb = box["traceback"].strip().splitlines()
        pytest.fail(f"EXCEPTION escaped {what}: {type(exc).__name__}: {str(exc)[:300]}\n"
                    + "\n".join(tb[-7:]), pytrace=False)
    box["elapsed"] = time.monotonic() - started
    return box["value"]


# --- secrets and where they may hide --------------------------------------------------------

SESSION = "sessX7kQ2mZ9pLr4"        # a made-up sessionWebhook session (a credential)
PARAM_TOKEN = "c0ffee11d04c58a6b2e0f4d7c91a3e5b8f6d2c4a1e7b9d0c3f5a8e2b6d4f99aa"  # not configured
CONFIG_SECRETS = (SMTP_CODE, DINGTALK_TOKEN, DINGTALK_SECRET, ALIYUN_KEY_ID, ALIYUN_SECRET)


def leaked(text, secrets):
    """The secrets found in ``text`` in any form: as they are, percent-encoded (once or twice,
    ``+`` for a space), or in another case."""
    forms = [text]
    for _ in range(2):
        forms.append(urllib.parse.unquote(forms[-1]))
    forms.append(urllib.parse.unquote_plus(forms[-1]))
    joined = "\n".join(forms).casefold()
    return [s[:6] + "..." for s in secrets if s and s.casefold() in joined]


@contextlib.contextmanager
def captured_logs():
    """Every log record of every logger, at DEBUG, as text (message and exception)."""
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            try:
                records.append(record.getMessage())
            except Exception as exc:  # a record that cannot be formatted is a finding too
                records.append(f"<unformattable record {record.msg!r}: {exc}>")
            if record.exc_info:
                records.append("".join(traceback.format_exception(*record.exc_info)))

    root = logging.getLogger()
    handler, level = Keep(level=logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# --- the contract ---------------------------------------------------------------------------

OUTCOMES = {"delivered", "failed", "not sent", "outcome unknown"}
_NAMES_PARAMETER = re.compile(r"parameter '[^']+'|pack config '[^']+'")


def result_text(result):
    """``json.dumps(result.to_dict())``; pytest.fail when the result is not JSON."""
    try:
        return json.dumps(result.to_dict(), allow_nan=False)
    except (TypeError, ValueError) as exc:
        pytest.fail(f"RESULT is not JSON as st2 needs it: {type(exc).__name__}: {exc}",
                    pytrace=False)


def check_notify_result(result, secrets=CONFIG_SECRETS, logs=()):
    """A NotifyResult keeps the contract: refused naming a parameter or config key, or one
    delivery per target each with an outcome; no secret in the result or the logs."""
    text = result_text(result)
    found = leaked(text, secrets)
    assert not found, f"LEAK: secret(s) {found} in the result: {text[:400]}"
    log_found = leaked("\n".join(logs), secrets)
    assert not log_found, f"LEAK: secret(s) {log_found} in the logs"
    data = result.to_dict()
    assert isinstance(data["status"], bool)
    if result.error:
        message = data["message"]
        assert _NAMES_PARAMETER.search(message) or "no channel to deliver on" in message, \
            f"REFUSAL names no parameter or config key: {message[:300]!r}"
        assert not result.deliveries
        return
    assert result.deliveries, "no error and no delivery: the call's result is lost"
    seen = set()
    for delivery in data["deliveries"]:
        assert delivery["outcome"] in OUTCOMES, delivery
        key = (delivery["channel"], delivery["target"])
        assert key not in seen, f"SENT TWICE: two deliveries to {key}"
        seen.add(key)


def check_reply(reply, parameters):
    """A Reply (listInternalMessages, importPlaybook) is JSON, has a boolean status, and a
    refusal says what was wrong (a parameter's name)."""
    text = result_text(reply)
    data = json.loads(text)
    assert isinstance(data["status"], bool) and isinstance(data["message"], str)
    if not data["status"]:
        assert any(name in data["message"] for name in parameters) or data.get("problems"), \
            f"REFUSAL names no parameter: {data['message'][:300]!r}"


def refused_naming(result, name):
    """True when the call was refused before sending and the refusal names ``name``."""
    return bool(result.error) and not result.deliveries and name in result.error


# --- configs whose endpoints are dead 127.0.0.1 ports ---------------------------------------

def dead_config():
    """A config with every channel configured, each endpoint a loopback port where nothing
    listens: SMTP, DingTalk, the SMS, voice and SOAR gateways, and Message Center recipients
    using every channel.  Calls that get through validation fail fast (connection refused)."""
    port = free_port()
    return {
        "max_concurrency": 10,
        "smtp_instances": [{
            "assetname": "soc-163", "uuid": "acde2ae8-8b01-4bec-97c4-44ba6c9ba457",
            "emailSendServer": f"127.0.0.1:{port}", "emailUsername": SMTP_LOGIN,
            "emailPassword": SMTP_CODE, "sender_name": "SOC", "tls": "implicit",
            "timeout": 2, "default": True, "max_sessions": 1, "verify": True}],
        "dingtalk_robots": [{
            "name": "soc", "webhook": f"https://127.0.0.1:{port}/robot/send?access_token="
            + DINGTALK_TOKEN, "secret": DINGTALK_SECRET, "keywords": ["alert", "hello"],
            "at_mobiles": ["13800138000"], "at_user_ids": ["u1"], "at_all": False,
            "default": True}],
        "dingtalk_allowed_hosts": ["127.0.0.1"],
        "dingtalk_timeout": 2, "dingtalk_retry_seconds": 0, "dingtalk_retry_backoff": 0.01,
        "aliyun": {
            "access_key_id": ALIYUN_KEY_ID, "access_key_secret": ALIYUN_SECRET,
            "region_id": "cn-hangzhou",
            "endpoints": {p: f"https://127.0.0.1:{port}/" for p in
                          ("dysmsapi", "dyvmsapi", "sophonsoar")},
            "allowed_endpoint_hosts": ["127.0.0.1"], "timeout": 2, "retries": 0,
            "retry_backoff": 0, "verify": True},
        "sms_profiles": [{
            "name": "oncall", "sign_name": "云安全中心", "template_code": "SMS_460000001",
            "template_param": "content", "template_constants": {"team": "SOC"},
            "voice": {"tts_code": "TTS_460000001", "tts_param": "content",
                      "show_number": "057112345678", "play_times": 1, "volume": 100,
                      "speed": 0, "tts_constants": {"team": "SOC"}},
            "default": True}],
        "message_center": {
            "provider": "local", "default_lang": "en", "pmsg_ttl_days": 30,
            "recipients": [{
                "aliuid": "1766", "contacts": [{"name": "Li", "email": "li@163.com",
                                                "mobile": "13800138000"}],
                "webhooks": ["soc"], "smtp_instance": "soc-163",
                "subscriptions": {"default": {"sms": "on", "email": 1, "webhook": True,
                                              "pmsg": "mandatory"}}}],
            "templates": {"custom_event": {"en": {"subject": "Event $name",
                                                  "body": "Body $name"},
                                           "zh": {"subject": "事件 $name",
                                                  "body": "内容 $name"}}},
            "aliyun_soar": {"playbook_uuid": "pb-1", "node_name": "NotifyMessage_1",
                            "role_for": "123"}},
        "dingtalk_inbound": {"host": "127.0.0.1", "port": 8443, "path": "/dingtalk/outgoing",
                             "app_secret": "SECinbound-app-secret-77", "replay_cache_size": 100},
    }


def dead_secrets(config):
    return list(CONFIG_SECRETS) + [config["dingtalk_inbound"]["app_secret"]]


# --- hostile values ----------------------------------------------------------------------------

def _nested_list(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def _nested_dict(depth):
    value = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@functools.lru_cache(maxsize=None)
def _wide_texts():
    """The 200,000 numbers as text, made once (a test gets a new list of them: the strings
    cannot change, the list might)."""
    return tuple(str(i) for i in range(200_000))


@functools.lru_cache(maxsize=None)
def _wide_json_text():
    return json.dumps(list(range(200_000)))   # text cannot change: made once


CONTROL_CHARACTERS = ["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x1f", "\x7f", "\x85", "\x9b",
                      "\u2028", "\u2029"]

# name -> a factory of the value (built when a test asks, by name)
CORPUS = {
    "nul": lambda: "a\x00b",
    "c0_controls": lambda: "".join(map(chr, range(32))) + "x",
    "del_and_c1": lambda: "x\x7f\x80\x85\x9b\x9fy",
    "unicode_line_separators": lambda: "a\u0085b\u2028c\u2029d",
    "crlf_header_injection": lambda: "x\r\nBcc: evil@163.com",
    "lone_surrogate": lambda: "a\ud800b",
    "huge_text_1mb": lambda: "a" * (1024 * 1024),
    "huge_text_2mb_with_nul": lambda: "a\x00" * (1024 * 1024),
    "huge_multibyte_1_2mb": lambda: "中" * 400_000,
    "deep_json_array_text_10000": lambda: "[" * 10_000 + "]" * 10_000,
    "deep_json_object_text_10000": lambda: '{"a":' * 10_000 + "1" + "}" * 10_000,
    "deep_list_10000": lambda: _nested_list(10_000),
    "deep_dict_10000": lambda: _nested_dict(10_000),
    "int_10000_digits": lambda: 10 ** 10_000 - 1,
    "int_text_10000_digits": lambda: "9" * 10_000,
    "json_int_10000_digits": lambda: "[" + "9" * 10_000 + "]",
    "json_object_int_10000_digits": lambda: '{"x": ' + "9" * 10_000 + "}",
    "json_nan_infinity": lambda: "[NaN, Infinity, -Infinity]",
    "nan": lambda: math.nan,
    "inf": lambda: math.inf,
    "minus_inf": lambda: -math.inf,
    "float_1e308": lambda: 1e308,
    "negative_int": lambda: -1,
    "true": lambda: True,
    "false": lambda: False,
    "mixed_list": lambda: [1, "a", None, 2.5, True, {"x": 1}, [], math.nan, "\x00"],
    "odd_keys_dict": lambda: {"": 1, "\x00": 2, "__proto__": {}, "a" * 1000: None, "1": [1]},
    "non_string_keys_dict": lambda: {1: "a", None: "b", (1, 2): "c", 2.5: "d"},
    "wide_list_200000": lambda: list(_wide_texts()),   # a new list, of the same strings
    "wide_json_text_200000": lambda: _wide_json_text(),
    "bytes": lambda: b"a@163.com",
    "object": lambda: object(),
}
CORPUS_NAMES = list(CORPUS)

# --- generated garbage (values hypothesis can print) ------------------------------------------

_control = st.sampled_from(CONTROL_CHARACTERS + ["\r", "\n", "\t"])
hostile_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.text(max_size=8), _control), max_size=12).map("".join),
    st.builds(lambda head, c, tail: head + c + tail, st.sampled_from(
        ["a@163.com", "13800138000", "soc", "1", "https://127.0.0.1/robot/send?access_token=",
         "yundun_soar_incident_generate", "1766", "text"]), _control, st.text(max_size=6)),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "\x00", "中", "[", "{"]),
              st.sampled_from([10_000, 100_000])),
    st.builds(lambda d: "[" * d + "]" * d, st.integers(30, 3_000)),
)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), hostile_text)
_key = st.one_of(st.text(max_size=6), _control, st.sampled_from(
    ["", "__proto__", "content", "email", "emails", "phones", "dingtalk", "jsonInput"]))
garbage = st.recursive(
    _scalar,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(_key, children, max_size=5)),
    max_leaves=20,
)


def mutated(valid):
    """Garbage made from a parameter's valid value: a control character inserted anywhere, the
    value repeated to a large size, wrapped in a list or JSON, or its type changed."""
    text = valid if isinstance(valid, str) else json.dumps(valid, ensure_ascii=False)
    inserted = st.builds(lambda at, c: text[:at] + c + text[at:],
                         st.integers(0, len(text)), _control)
    return st.one_of(
        inserted, inserted, inserted, inserted,
        st.builds(lambda c: [text + c], _control),
        st.builds(lambda c: json.dumps([text + c]), _control),
        st.builds(lambda n: text * n, st.sampled_from([1_000, 20_000])),
        st.just([text, text.upper(), " " + text + " "]),
        st.just({"value": valid}),
    )
