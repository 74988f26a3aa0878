"""Hostile pack configs: for every key of config.schema.yaml, garbage of the wrong type,
NaN / inf, 0.5 where a whole number is meant, zero and negative counts, control characters
and huge strings make ``PackConfig.from_mapping`` raise ConfigError naming the key, or
return; never another exception, never a hang, never a secret in the message.  A few values
that parse but cannot work (``$`` in a template, ``smtps://`` in emailSendServer) must be
refused when the config is read, not when a call is half way through."""

import copy
import math
import os

import pytest
import yaml
from hostile import (
    CORPUS,
    call_bounded,
    check_notify_result,
    dead_config,
    dead_secrets,
    garbage,
    leaked,
)
from hypothesis import HealthCheck, given, settings
from notify_message.config.pack import PackConfig
from notify_message.errors import ConfigError
from notify_message.notifier import notify_by_custom, notify_by_message_center, reply_dingtalk

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ = settings(max_examples=15, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BASE = dead_config()
SECRETS = dead_secrets(BASE)


def _schema_paths(properties, prefix=()):
    """Every key of the schema as a path: names, 0 for a list's first item, and a sample
    key ("x") for an object of free keys."""
    for name, spec in properties.items():
        path = prefix + (name,)
        yield path
        yield from _spec_paths(spec, path)


def _spec_paths(spec, path):
    if spec.get("type") == "array" and isinstance(spec.get("items"), dict) \
            and "properties" in spec["items"]:
        yield from _schema_paths(spec["items"]["properties"], path + (0,))
    if spec.get("type") == "object":
        if "properties" in spec:
            yield from _schema_paths(spec["properties"], path)
        extra = spec.get("additionalProperties")
        if isinstance(extra, dict):
            yield path + ("x",)
            yield from _spec_paths(extra, path + ("x",))


with open(os.path.join(PACK_DIR, "config.schema.yaml")) as f:
    SCHEMA = yaml.safe_load(f)
KEY_PATHS = list(dict.fromkeys(_schema_paths(SCHEMA)))


def dotted(path):
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _free_key(path):
    """The base config's own key where the schema allows free keys ("x" in the path)."""
    free = {("aliyun", "endpoints"): "dysmsapi",
            ("message_center", "templates"): "custom_event",
            ("message_center", "recipients", 0, "subscriptions"): "default",
            ("sms_profiles", 0, "template_constants"): "team",
            ("sms_profiles", 0, "voice", "tts_constants"): "team"}
    return free.get(tuple(path), "x")


def with_value(path, value):
    """BASE with the key at ``path`` set to ``value`` (containers made on the way)."""
    config = copy.deepcopy(BASE)
    node = config
    real = []
    for i, part in enumerate(path):
        if part == "x":
            part = _free_key(real)
        real.append(part)
        last = i == len(path) - 1
        if last:
            node[part] = value
            break
        child = node[part] if (isinstance(node, list) and part < len(node)) or \
            (isinstance(node, dict) and part in node) else None
        if child is None:
            child = [{}] if isinstance(path[i + 1], int) else {}
            node[part] = child
        node = child
    return config, dotted(real)


# a list of allowed hosts refuses the endpoints it no longer allows: naming them is right
RELATED = {"dingtalk_allowed_hosts": ("dingtalk_robots",),
           "aliyun.allowed_endpoint_hosts": ("aliyun.endpoints",)}


def _read(config, where):
    """PackConfig.from_mapping: the config, or the ConfigError (checked to name a key near
    ``where`` and to hold no secret); any other exception or a hang fails."""
    def read():
        try:
            return PackConfig.from_mapping(config)
        except ConfigError as exc:
            return exc

    outcome = call_bounded(read, what=f"PackConfig.from_mapping ({where})")
    if isinstance(outcome, ConfigError):
        assert outcome.key, f"ConfigError names no key: {outcome}"
        assert any(outcome.key == near or outcome.key.startswith(near) or
                   near.startswith(outcome.key) for near in (where,) + RELATED.get(where, ())), \
            f"ConfigError names {outcome.key!r}, not {where!r}"
        found = leaked(str(outcome), SECRETS)
        assert not found, f"LEAK: {found} in {outcome}"
    return outcome


def test_the_base_config_is_valid():
    assert isinstance(PackConfig.from_mapping(BASE), PackConfig)


def test_every_schema_key_is_covered():
    assert len(KEY_PATHS) > 60
    assert ("smtp_instances", 0, "emailSendServer") in KEY_PATHS
    assert ("message_center", "templates", "x", "en", "subject") in KEY_PATHS


CONFIG_CORPUS = ["nul", "unicode_line_separators", "crlf_header_injection", "huge_text_1mb",
                 "deep_list_10000", "int_10000_digits", "nan", "inf", "true", "mixed_list",
                 "non_string_keys_dict", "object"]
EXTRA = {"half": lambda: 0.5, "zero": lambda: 0, "minus_one": lambda: -1,
         "empty_dict": lambda: {}}


@pytest.mark.parametrize("value_name", CONFIG_CORPUS + list(EXTRA))
@pytest.mark.parametrize("path", KEY_PATHS, ids=[dotted(p) for p in KEY_PATHS])
def test_every_config_key_refuses_a_hostile_value_by_name(path, value_name):
    value = (CORPUS.get(value_name) or EXTRA[value_name])()
    config, where = with_value(path, value)
    _read(config, where)


@pytest.mark.parametrize("path", KEY_PATHS, ids=[dotted(p) for p in KEY_PATHS])
@FUZZ
@given(value=garbage)
def test_every_config_key_refuses_generated_garbage_by_name(path, value):
    config, where = with_value(path, value)
    _read(config, where)


@pytest.mark.parametrize("value", [[], "x", 1, 1.5, True, math.nan, ["a"], object()],
                         ids=["list", "text", "int", "float", "bool", "nan", "list_of_text",
                              "object"])
@pytest.mark.parametrize("action", ["notifyByCustom", "notifyByMessageCenter",
                                    "replyDingTalk"])
def test_a_config_that_is_not_an_object_is_refused(action, value):
    fn = {"notifyByCustom": notify_by_custom, "notifyByMessageCenter": notify_by_message_center,
          "replyDingTalk": reply_dingtalk}[action]
    result = call_bounded(fn, {"receivers": "a@163.com", "emailcontext": "x"}
                          if action == "notifyByCustom" else {}, value, what=action)
    assert result.error and "pack config" in result.error, result.message


# --- whole numbers, counts and durations ---------------------------------------------------------

INTEGER_KEYS = [p for p in KEY_PATHS if dotted(p) in {
    "max_concurrency", "smtp_instances[0].max_sessions", "message_center.pmsg_ttl_days",
    "aliyun.retries", "sms_profiles[0].voice.play_times", "sms_profiles[0].voice.volume",
    "sms_profiles[0].voice.speed", "dingtalk_inbound.port", "dingtalk_inbound.replay_cache_size"}]
SECONDS_KEYS = [p for p in KEY_PATHS if dotted(p) in {
    "smtp_instances[0].timeout", "dingtalk_timeout", "dingtalk_retry_seconds",
    "dingtalk_retry_backoff", "aliyun.timeout", "aliyun.retry_backoff"}]


@pytest.mark.parametrize("value", [0.5, 1.5, math.nan, math.inf, -math.inf, "5", True, -1],
                         ids=["half", "one_and_a_half", "nan", "inf", "minus_inf", "text",
                              "bool", "minus_one"])
@pytest.mark.parametrize("path", INTEGER_KEYS, ids=[dotted(p) for p in INTEGER_KEYS])
def test_a_whole_number_key_refuses_fractions_nan_and_words(path, value):
    if value == -1 and dotted(path) == "sms_profiles[0].voice.speed":
        pytest.skip("-1 is a valid speech rate")
    config, where = with_value(path, value)
    outcome = _read(config, where)
    assert isinstance(outcome, ConfigError), f"{where} = {value!r} was accepted"


@pytest.mark.parametrize("value", [0, -1, -10 ** 30])
def test_zero_or_negative_concurrency_is_refused(value):
    config, where = with_value(("max_concurrency",), value)
    assert isinstance(_read(config, where), ConfigError)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1, 10 ** 400, "5", True],
                         ids=["nan", "inf", "minus_inf", "minus_one", "googol", "text", "bool"])
@pytest.mark.parametrize("path", SECONDS_KEYS, ids=[dotted(p) for p in SECONDS_KEYS])
def test_a_seconds_key_refuses_nan_inf_and_words(path, value):
    config, where = with_value(path, value)
    assert isinstance(_read(config, where), ConfigError), f"{where} = {value!r} was accepted"


# --- values that parse but cannot work ---------------------------------------------------

@pytest.mark.parametrize("text", ["costs $", "costs $5", "${", "$ name", "100$"],
                         ids=["trailing_dollar", "dollar_digit", "open_brace", "dollar_space",
                              "number_dollar"])
@pytest.mark.parametrize("field", ["subject", "body"])
def test_a_stray_dollar_in_a_template_is_refused_when_the_config_is_read(field, text):
    """string.Template refuses a ``$`` that starts no placeholder, at render time: the config
    must say so (naming the template) before a call renders it."""
    config = copy.deepcopy(BASE)
    config["message_center"]["templates"]["custom_event"]["en"][field] = text
    outcome = _read(config, f"message_center.templates.custom_event.en.{field}")
    assert isinstance(outcome, ConfigError), "a template with a stray $ was accepted"


@pytest.mark.parametrize("text", ["costs $", "${"], ids=["trailing_dollar", "open_brace"])
def test_a_stray_dollar_in_a_template_never_escapes_a_call(text):
    config = copy.deepcopy(BASE)
    config["message_center"]["templates"]["custom_event"]["en"]["body"] = text
    result = call_bounded(notify_by_message_center, {
        "aliuid": "1766", "eventId": "custom_event", "lang": "en", "channelTypeList": "pmsg",
        "params": {"name": "n"}}, config, what="notifyByMessageCenter")
    check_notify_result(result, SECRETS)


@pytest.mark.parametrize("server", ["smtps://smtp.163.com:465", "smtp://smtp.163.com:25",
                                    "ssl://smtp.163.com", "https://smtp.163.com:465",
                                    "smtp.163.com:465/path", "user@smtp.163.com:465",
                                    "smtp.163.com:465:465", "[::1", "smtp.163.com:+465",
                                    "smtp.163.com:٤٦٥"],
                         ids=["smtps_url", "smtp_url", "ssl_url", "https_url", "with_path",
                              "with_userinfo", "two_ports", "open_bracket", "plus_port",
                              "arabic_digits_port"])
def test_an_email_send_server_that_is_not_host_or_host_port_is_refused(server):
    config, where = with_value(("smtp_instances", 0, "emailSendServer"), server)
    outcome = _read(config, where)
    assert isinstance(outcome, ConfigError), f"emailSendServer {server!r} was accepted"


@pytest.mark.parametrize("path,value", [
    (("aliyun", "endpoints", "x"), "https://user:pw@dysmsapi.aliyuncs.com/"),
    (("aliyun", "endpoints", "x"), "https://dysmsapi.aliyuncs.com:99999/"),
    (("aliyun", "endpoints", "x"), "https://dysmsapi.aliyuncs.com.evil.example/"),
    (("aliyun", "allowed_endpoint_hosts"), ["*"]),
    (("dingtalk_allowed_hosts",), ["127.0.0.1:notaport"]),
    (("dingtalk_robots", 0, "webhook"), "https://127.0.0.1:99999/robot/send?access_token=x"),
    (("dingtalk_inbound", "host"), "0.0.0.0\x00"),
    (("dingtalk_inbound", "path"), "no-leading-slash"),
    (("sms_profiles", 0, "voice", "show_number"), "٠٥٧١"),
    (("message_center", "aliyun_soar", "role_for"), "١٢٣"),
], ids=["endpoint_with_userinfo", "endpoint_bad_port", "endpoint_lookalike_host",
        "allowed_host_wildcard", "allowed_host_bad_port", "robot_bad_port",
        "inbound_host_nul", "inbound_path_relative", "show_number_arabic_digits",
        "role_for_arabic_digits"])
def test_a_malformed_endpoint_or_number_is_refused_when_the_config_is_read(path, value):
    config, where = with_value(path, value)
    if path[0] == "message_center" and path[1] == "aliyun_soar":
        config["message_center"]["aliyun_soar"]["playbook_uuid"] = "pb-1"
    outcome = _read(config, where)
    assert isinstance(outcome, ConfigError), f"{where} = {value!r} was accepted"


def test_a_huge_config_string_is_read_quickly():
    config, where = with_value(("smtp_instances", 0, "sender_name"), "S" * (2 * 1024 * 1024))
    _read(config, where)
