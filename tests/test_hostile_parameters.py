"""Hostile parameters: every parameter of every action, given garbage, gives a result (never
an exception, never a hang), refuses naming the parameter or delivers once per target, and
never shows a secret; control characters never reach a protocol line; a credential given in
a parameter never comes back in any form.

The garbage is the corpus in hostile.py (by name) and hypothesis' generated values; calls
that get through validation go to 127.0.0.1 ports where nothing listens (hostile.dead_config)
or, where the test checks what a server received, to the loopback servers of conftest.py."""

import contextlib
import json
import os
import tempfile
import time
import urllib.parse

import pytest
from helpers import (
    ALIYUN_SECRET,
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    SMTP_CODE,
    dingtalk_robot,
    sample,
)
from hostile import (
    CONFIG_SECRETS,
    CORPUS,
    CORPUS_NAMES,
    PARAM_TOKEN,
    SESSION,
    call_bounded,
    captured_logs,
    check_notify_result,
    check_reply,
    dead_config,
    dead_secrets,
    garbage,
    leaked,
    mutated,
    refused_naming,
    result_text,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from notify_message.message_center.inbox import (
    InternalMessage,
    MemoryInbox,
    list_internal_messages,
)
from notify_message.notifier import notify_by_custom, notify_by_message_center, reply_dingtalk
from notify_message.parameters import (
    CUSTOM_EMAIL_PARAMETERS,
    CUSTOM_PARAMETERS,
    IMPORT_PLAYBOOK_PARAMETERS,
    LIST_MESSAGES_PARAMETERS,
    MESSAGE_CENTER_PARAMETERS,
    REPLY_PARAMETERS,
)
from notify_message.playbook.action import import_playbook

from testkit.dingtalk_server import FakeRobot

FUZZ = settings(max_examples=15, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def _dead():
    config = dead_config()
    config["smtp_instances"][0]["tls"] = "plain"   # no TLS context to build: fast refusals
    return config


DEAD = _dead()
DEAD_SECRETS = dead_secrets(DEAD) + [SESSION]

# --- each action with a valid call whose one parameter is replaced by garbage ------------------

_EMAIL = {"email": "1", "receivers": "a@163.com", "emailTitle": "Alert", "emailcontext": "body"}
_PHONE = {"telephone": "13800138000", "sms": "1", "smscontext": "alert",
          "telephonecontext": "call"}
_DINGTALK = {"dingding": "1", "dingdingWebhooks": "soc", "dingdingMsgType": "text",
             "dingdingcontext": "hello alert"}
CUSTOM_BASE = {
    **{name: _EMAIL for name in _EMAIL},
    **{name: _PHONE for name in _PHONE},
    **{name: _DINGTALK for name in _DINGTALK},
    "customReceiver": {"emailcontext": "body", "customReceiver": {"emails": ["b@163.com"]}},
    "jsonInput": {"jsonInput": {"receivers": ["a@163.com"], "emailcontext": "body"}},
    # the email extras beyond the component's 14, each beside a valid mail
    **{name: _EMAIL for name in CUSTOM_EMAIL_PARAMETERS},
}
assert set(CUSTOM_BASE) == set(CUSTOM_PARAMETERS + CUSTOM_EMAIL_PARAMETERS)

MC_BASE = {"aliuid": "1766", "eventId": "yundun_soar_incident_generate",
           "channelTypeList": "pmsg,email", "lang": "en",
           "params": {"incidentName": "n", "incidentID": "i", "startTime": "t"}}
REPLY_BASE = {"sessionWebhook": "https://127.0.0.1:%d/robot/sendBySession?session=%s"
              % (int(DEAD["smtp_instances"][0]["emailSendServer"].rsplit(":", 1)[1]), SESSION),
              "sessionWebhookExpiredTime": 4_000_000_000_000, "dingdingMsgType": "text",
              "dingdingcontext": "hello"}
LIST_BASE = {"aliuid": "1766", "limit": 20}
IMPORT_BASE = {"playbook": sample(), "name": "hostile_wf", "description": "d",
               "expose_parameters": False, "pack_dir": "", "overwrite": False}


def _with(base, name, value):
    params = dict(base)
    params[name] = value
    return params


def _custom(name, value):
    params = _with(CUSTOM_BASE[name], name, value)
    with captured_logs() as logs:
        result = call_bounded(notify_by_custom, params, DEAD, what=f"notifyByCustom({name}=...)")
    check_notify_result(result, DEAD_SECRETS, logs)


def _message_center(name, value):
    with captured_logs() as logs:
        result = call_bounded(notify_by_message_center, _with(MC_BASE, name, value), DEAD,
                              what=f"notifyByMessageCenter({name}=...)")
    check_notify_result(result, DEAD_SECRETS, logs)


def _reply(name, value):
    with captured_logs() as logs:
        result = call_bounded(reply_dingtalk, _with(REPLY_BASE, name, value), DEAD,
                              what=f"replyDingTalk({name}=...)")
    check_notify_result(result, DEAD_SECRETS, logs)


def _list(name, value):
    inbox = MemoryInbox()
    inbox.store(InternalMessage.new("1766", "custom_event", "en", "s", "b"))
    reply = call_bounded(list_internal_messages, _with(LIST_BASE, name, value), inbox,
                         what=f"listInternalMessages({name}=...)")
    check_reply(reply, LIST_MESSAGES_PARAMETERS)


@contextlib.contextmanager
def _elsewhere():
    """Run in an empty directory: a garbage pack_dir such as "." must not write into the
    worktree."""
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as empty:
        os.chdir(empty)
        try:
            yield
        finally:
            os.chdir(here)


def _import(name, value):
    with _elsewhere():
        reply = call_bounded(import_playbook, _with(IMPORT_BASE, name, value), None,
                             what=f"importPlaybook({name}=...)")
    check_reply(reply, IMPORT_PLAYBOOK_PARAMETERS)


ACTIONS = {
    "notifyByCustom": (CUSTOM_PARAMETERS + CUSTOM_EMAIL_PARAMETERS, _custom),
    "notifyByMessageCenter": (MESSAGE_CENTER_PARAMETERS, _message_center),
    "replyDingTalk": (REPLY_PARAMETERS, _reply),
    "listInternalMessages": (LIST_MESSAGES_PARAMETERS, _list),
    "importPlaybook": (IMPORT_PLAYBOOK_PARAMETERS, _import),
}
_BASES = {"notifyByCustom": lambda name: CUSTOM_BASE[name],
          "notifyByMessageCenter": lambda name: MC_BASE, "replyDingTalk": lambda name: REPLY_BASE,
          "listInternalMessages": lambda name: LIST_BASE,
          "importPlaybook": lambda name: dict(IMPORT_BASE, playbook=json.dumps(sample()))}
EVERY_PARAMETER = [(action, name) for action, (names, _) in ACTIONS.items() for name in names]


def test_the_base_calls_are_valid():
    """Each base call gets through validation, so that garbage in one parameter is what a
    refusal is about."""
    for name, base in {"email": _EMAIL, "phone": _PHONE, "dingtalk": _DINGTALK}.items():
        result = notify_by_custom(base, DEAD)
        assert not result.error and result.deliveries, (name, result.message)
    result = notify_by_message_center(MC_BASE, DEAD)
    assert not result.error and result.deliveries, result.message
    result = reply_dingtalk(REPLY_BASE, DEAD)
    assert not result.error and result.deliveries, result.message
    with _elsewhere():
        assert import_playbook(IMPORT_BASE, None).status


@pytest.mark.parametrize("value_name", CORPUS_NAMES)
@pytest.mark.parametrize("action,parameter", EVERY_PARAMETER,
                         ids=[f"{a}.{p}" for a, p in EVERY_PARAMETER])
def test_every_parameter_survives_each_hostile_value(action, parameter, value_name):
    """NUL, controls, 1-2 MB text, 10,000 levels of JSON (text and structure), 10,000-digit
    integers, NaN / inf, bools, mixed lists, odd keys: a result within 5 s, no exception,
    a refusal naming a parameter or deliveries with outcomes, no secret."""
    ACTIONS[action][1](parameter, CORPUS[value_name]())


@pytest.mark.parametrize("action,parameter", EVERY_PARAMETER,
                         ids=[f"{a}.{p}" for a, p in EVERY_PARAMETER])
@FUZZ
@given(data=st.data())
def test_every_parameter_survives_generated_garbage(action, parameter, data):
    """Generated garbage, and the parameter's valid value with a control character put
    anywhere in it, repeated, wrapped or retyped."""
    valid = _BASES[action](parameter).get(parameter, "x")
    value = data.draw(st.one_of(garbage, mutated(valid)), label=parameter)
    ACTIONS[action][1](parameter, value)


@pytest.mark.parametrize("params", [{"unknown": 1}, {"": 1}, {"\x00": "x"}, {1: "x"},
                                    {None: "x"}], ids=["unknown", "empty", "nul", "int", "none"])
@pytest.mark.parametrize("action", ["notifyByCustom", "notifyByMessageCenter", "replyDingTalk",
                                    "listInternalMessages", "importPlaybook"])
def test_odd_parameter_names_are_refused(action, params):
    """A parameter name that no action has (st2 passes only declared ones, the CLI and a
    jsonInput-like caller may not): refused naming it, never an exception."""
    call = {
        "notifyByCustom": lambda: notify_by_custom(params, DEAD),
        "notifyByMessageCenter": lambda: notify_by_message_center(params, DEAD),
        "replyDingTalk": lambda: reply_dingtalk(params, DEAD),
        "listInternalMessages": lambda: list_internal_messages(params, MemoryInbox()),
        "importPlaybook": lambda: import_playbook(params, None),
    }[action]
    result = call_bounded(call, what=action)
    assert result.to_dict()["status"] is False
    result_text(result)


# --- control characters never reach a protocol line --------------------------------------------

CONTROL_CASES = {
    "nul_inside": ("\x00", "inside"), "esc_inside": ("\x1b", "inside"),
    "del_inside": ("\x7f", "inside"), "nel_inside": ("\x85", "inside"),
    "line_separator_inside": ("\u2028", "inside"), "lf_inside": ("\n", "inside"),
    "unit_separator_at_end": ("\x1f", "end"), "paragraph_separator_at_end": ("\u2029", "end"),
    "nul_at_end": ("\x00", "end"),
}


def _inject(text, case, at=None):
    """``text`` with the case's control character inside (at index ``at``, default the
    middle) or at the end."""
    char, where = CONTROL_CASES[case]
    if where == "end":
        return text + char
    at = len(text) // 2 if at is None else at
    return text[:at] + char + text[at:]


# email: (what names it in the refusal, how the call is made from the control case)
def _email_call(config, case, target):
    params = {"email": "1", "receivers": "a@163.com", "emailTitle": "Alert",
              "emailcontext": "body"}
    instance = config["smtp_instances"][0]
    if target == "receivers.address":
        params["receivers"] = [_inject("alice@163.com", case, 3)]
    elif target == "receivers.display_name":
        params["receivers"] = [_inject("Alice", case) + " <alice@163.com>"]
    elif target == "receivers.component_form":
        params["receivers"] = '[{"userid": -1, "email": %s}]' % \
            json.dumps(_inject("alice@163.com", case, 3))
    elif target == "customReceiver.emails":
        params.pop("receivers")
        params["customReceiver"] = {"emails": [_inject("alice@163.com", case, 3)]}
    elif target == "customReceiver.contact_email":
        params.pop("receivers")
        params["customReceiver"] = [{"name": "A", "email": _inject("alice@163.com", case, 3)}]
    elif target == "emailTitle":
        params["emailTitle"] = _inject("Disk full", case)
    elif target == "smtp_instances[0].sender_name":
        instance["sender_name"] = _inject("SOC Team", case)
    elif target == "smtp_instances[0].emailUsername":
        instance["emailUsername"] = _inject("soc-alerts@163.com", case, 3)
    elif target == "smtp_instances[0].emailSendServer":
        host, port = instance["emailSendServer"].rsplit(":", 1)
        instance["emailSendServer"] = _inject(host, case) + ":" + port
    elif target == "message_center.recipients[0].contacts[0].email":
        config["message_center"] = {"recipients": [{
            "aliuid": "1766",
            "contacts": [{"name": "Li", "email": _inject("li@163.com", case, 2)}],
            "subscriptions": {"default": {"email": "on"}}}]}
        return notify_by_message_center, {
            "aliuid": "1766", "eventId": "yundun_soar_incident_generate", "lang": "en",
            "channelTypeList": "email",
            "params": {"incidentName": "n", "incidentID": "i", "startTime": "t"}}
    return notify_by_custom, params


EMAIL_TARGETS = ["receivers.address", "receivers.display_name", "receivers.component_form",
                 "customReceiver.emails", "customReceiver.contact_email", "emailTitle",
                 "smtp_instances[0].sender_name", "smtp_instances[0].emailUsername",
                 "smtp_instances[0].emailSendServer",
                 "message_center.recipients[0].contacts[0].email"]


@pytest.mark.parametrize("case", list(CONTROL_CASES))
@pytest.mark.parametrize("target", EMAIL_TARGETS)
def test_control_character_in_an_email_line_is_refused_before_sending(target, case,
                                                                      smtp_config):
    config, server = smtp_config()
    fn, params = _email_call(config, case, target)
    result = call_bounded(fn, params, config, what=target)
    named = target.split(".")[0] if not target.startswith(("smtp", "message")) else target
    assert refused_naming(result, named), \
        f"NOT REFUSED (naming {named}): {result.message[:300]!r}"
    assert server.sessions == 0 and server.received == [], "the SMTP server was reached"


def _dingtalk_url(server, case):
    return _inject(server.webhook(DINGTALK_TOKEN), case,
                   len(server.webhook(DINGTALK_TOKEN)) - 10)


def _dingtalk_call(config, server, case, target):
    if target == "dingdingWebhooks":
        return notify_by_custom, {"dingding": "1", "dingdingcontext": "hello",
                                  "dingdingWebhooks": [_dingtalk_url(server, case)]}
    if target == "customReceiver.dingtalk":
        return notify_by_custom, {"dingdingcontext": "hello",
                                  "customReceiver": {"dingtalk": [_dingtalk_url(server, case)]}}
    if target == "sessionWebhook":
        return reply_dingtalk, {"sessionWebhook": _inject(
            server.session_webhook(SESSION), case, len(server.session_webhook(SESSION)) - 4),
            "dingdingcontext": "hello"}
    if target == "dingtalk_robots[0].webhook":
        config["dingtalk_robots"][0]["webhook"] = _dingtalk_url(server, case)
        return notify_by_custom, {"dingding": "1", "dingdingcontext": "hello"}
    if target == "dingtalk_allowed_hosts":
        config["dingtalk_allowed_hosts"] = [_inject(server.host, case, 3)]
        return notify_by_custom, {"dingding": "1", "dingdingcontext": "hello"}
    if target == "message_center.recipients[0].webhooks":
        config["message_center"] = {"recipients": [{
            "aliuid": "1766", "webhooks": [_dingtalk_url(server, case)],
            "subscriptions": {"default": {"webhook": "on"}}}]}
        return notify_by_message_center, {
            "aliuid": "1766", "eventId": "yundun_soar_incident_generate", "lang": "en",
            "params": {"incidentName": "n", "incidentID": "i", "startTime": "t"}}
    raise AssertionError(target)


DINGTALK_TARGETS = ["dingdingWebhooks", "customReceiver.dingtalk", "sessionWebhook",
                    "dingtalk_robots[0].webhook", "dingtalk_allowed_hosts",
                    "message_center.recipients[0].webhooks"]


@pytest.mark.parametrize("case", list(CONTROL_CASES))
@pytest.mark.parametrize("target", DINGTALK_TARGETS)
def test_control_character_in_a_robot_url_is_refused_before_sending(
        target, case, signed_robot):
    config, server = signed_robot
    server.add_robot(FakeRobot(SESSION))   # the session webhook's conversation
    fn, params = _dingtalk_call(config, server, case, target)
    with captured_logs() as logs:
        result = call_bounded(fn, params, config, what=target)
    assert refused_naming(result, target.split("[")[0] if target.startswith("customReceiver")
                          else target), f"NOT REFUSED (naming {target}): {result.message[:300]!r}"
    assert server.requests == 0, "the DingTalk server was reached"
    check_notify_result(result, list(CONFIG_SECRETS) + [SESSION], logs)


def _phone_call(config, server, case, target):
    sms = {"sms": "1", "smscontext": "alert"}
    if target == "telephone":
        return notify_by_custom, dict(sms, telephone=[_inject("13800138000", case)])
    if target == "customReceiver.phones":
        return notify_by_custom, dict(sms, telephone="13900139000", customReceiver={
            "phones": [_inject("13800138000", case)]})
    if target == "customReceiver.contact_mobile":
        return notify_by_custom, dict(sms, telephone="13900139000", customReceiver=[
            {"name": "A", "mobile": _inject("13800138000", case)}])
    if target == "aliyun.endpoints.dysmsapi":
        config["aliyun"]["endpoints"]["dysmsapi"] = _inject(server.url + "sms", case,
                                                            len(server.url) + 1)
        return notify_by_custom, dict(sms, telephone="13800138000")
    if target == "message_center.recipients[0].contacts[0].mobile":
        config["message_center"] = {"recipients": [{
            "aliuid": "1766",
            "contacts": [{"name": "Li", "mobile": _inject("13800138000", case)}],
            "subscriptions": {"default": {"sms": "on"}}}]}
        return notify_by_message_center, {
            "aliuid": "1766", "eventId": "yundun_soar_incident_generate", "lang": "en",
            "params": {"incidentName": "n", "incidentID": "i", "startTime": "t"}}
    raise AssertionError(target)


PHONE_TARGETS = ["telephone", "customReceiver.phones", "customReceiver.contact_mobile",
                 "aliyun.endpoints.dysmsapi", "message_center.recipients[0].contacts[0].mobile"]


@pytest.mark.parametrize("case", list(CONTROL_CASES))
@pytest.mark.parametrize("target", PHONE_TARGETS)
def test_control_character_in_a_phone_number_or_endpoint_is_refused_before_sending(
        target, case, sms_config):
    config, server = sms_config()
    fn, params = _phone_call(config, server, case, target)
    result = call_bounded(fn, params, config, what=target)
    named = "customReceiver" if target.startswith("customReceiver") else target
    assert refused_naming(result, named), \
        f"NOT REFUSED (naming {named}): {result.message[:300]!r}"
    assert server.requests == 0, "the Alibaba Cloud gateway was reached"


@pytest.mark.parametrize("case", list(CONTROL_CASES))
@pytest.mark.parametrize("target", ["aliuid", "eventId"])
def test_control_character_in_a_message_center_relay_value_is_refused(target, case,
                                                                      sms_config):
    """Provider aliyun_soar relays aliuid and eventId to SOAR's API."""
    config, server = sms_config()
    config["aliyun"]["endpoints"]["sophonsoar"] = server.url
    config["message_center"] = {"provider": "aliyun_soar",
                                "aliyun_soar": {"playbook_uuid": "pb-1"}}
    params = {"aliuid": "1766", "eventId": "yundun_soar_incident_generate", "lang": "en",
              "params": {"incidentName": "n", "incidentID": "i", "startTime": "t"}}
    params[target] = _inject(params[target], case)
    result = call_bounded(notify_by_message_center, params, config, what=target)
    assert refused_naming(result, target), \
        f"NOT REFUSED (naming {target}): {result.message[:300]!r}"
    assert server.requests == 0, "the SOAR gateway was reached"


@pytest.mark.parametrize("case", list(CONTROL_CASES))
def test_control_character_in_aliuid_is_refused_by_the_local_provider(case):
    """The local provider keeps internal messages under a datastore key made of aliuid."""
    config = _dead()
    inbox = MemoryInbox()
    params = dict(MC_BASE, aliuid=_inject("1766", case), channelTypeList="pmsg")
    result = call_bounded(notify_by_message_center, params, config, inbox=inbox, what="aliuid")
    assert refused_naming(result, "aliuid"), f"NOT REFUSED: {result.message[:300]!r}"
    assert inbox.messages == []


# --- credentials given in parameters never come back ----------------------------------------------

def _pct_all(text):
    return "".join(f"%{ord(c):02X}" for c in text)


TOKEN_FORMS = {
    "bare_token": lambda url: DINGTALK_TOKEN,
    "bare_token_upper": lambda url: DINGTALK_TOKEN.upper(),
    "url_without_scheme": lambda url: url.split("://", 1)[1],
    "url_scheme_relative": lambda url: "//" + url.split("://", 1)[1],
    "url_http": lambda url: "http://" + url.split("://", 1)[1],
    "url_ftp": lambda url: "ftp://" + url.split("://", 1)[1],
    "url_percent_encoded_whole": lambda url: urllib.parse.quote(url, safe=""),
    "token_percent_encoded_in_url": lambda url: url.replace(DINGTALK_TOKEN,
                                                            _pct_all(DINGTALK_TOKEN)),
    "token_percent_encoded_alone": lambda url: _pct_all(DINGTALK_TOKEN),
    "url_with_sign": lambda url: url + "&timestamp=1&sign=x",
    "url_on_other_host": lambda url: url.replace("127.0.0.1", "evil.example"),
    "url_with_fragment": lambda url: url + "#frag",
    "url_with_userinfo": lambda url: url.replace("://", "://user:pw@"),
    "url_twice_in_one_entry": lambda url: url + url,
    "token_in_path": lambda url: url.replace("/robot/send?access_token=",
                                             "/robot/" + DINGTALK_TOKEN + "?access_token="),
}
ROBOT_PARAMETERS = {
    "dingdingWebhooks_text": lambda form: {"dingding": "1", "dingdingcontext": "hello alert",
                                           "dingdingWebhooks": form},
    "dingdingWebhooks_json_list": lambda form: {
        "dingding": "1", "dingdingcontext": "hello alert",
        "dingdingWebhooks": json.dumps([form])},
    "dingdingWebhooks_array": lambda form: {"dingding": "1", "dingdingcontext": "hello alert",
                                            "dingdingWebhooks": ["soc", form]},
    "dingding_selector": lambda form: {"dingding": form, "dingdingcontext": "hello alert"},
    "customReceiver_dingtalk": lambda form: {"dingdingcontext": "hello alert",
                                             "customReceiver": {"dingtalk": [form]}},
    "customReceiver_json_text": lambda form: {
        "dingdingcontext": "hello alert",
        "customReceiver": json.dumps({"dingtalk": [form]})},
    "jsonInput_dingdingWebhooks": lambda form: {"jsonInput": {
        "dingdingcontext": "hello alert", "dingdingWebhooks": [form]}},
}


@pytest.mark.parametrize("form", list(TOKEN_FORMS))
@pytest.mark.parametrize("where", list(ROBOT_PARAMETERS))
def test_a_configured_robots_token_in_any_form_is_not_shown(where, form):
    url = DEAD["dingtalk_robots"][0]["webhook"]
    params = ROBOT_PARAMETERS[where](TOKEN_FORMS[form](url))
    with captured_logs() as logs:
        result = call_bounded(notify_by_custom, params, DEAD, what=f"{where} / {form}")
    check_notify_result(result, DEAD_SECRETS, logs)


@pytest.mark.parametrize("form", list(TOKEN_FORMS))
@pytest.mark.parametrize("where", list(ROBOT_PARAMETERS))
def test_a_parameters_own_token_in_any_form_is_not_shown(where, form):
    """A webhook the parameters bring (not configured) carries a credential too."""
    url = DEAD["dingtalk_robots"][0]["webhook"].replace(DINGTALK_TOKEN, PARAM_TOKEN)
    params = ROBOT_PARAMETERS[where](TOKEN_FORMS[form](url).replace(DINGTALK_TOKEN,
                                                                    PARAM_TOKEN))
    with captured_logs() as logs:
        result = call_bounded(notify_by_custom, params, DEAD, what=f"{where} / {form}")
    check_notify_result(result, DEAD_SECRETS + [PARAM_TOKEN], logs)


@pytest.mark.parametrize("params", [
    {"email": SMTP_CODE, "receivers": "a@163.com", "emailcontext": "x"},
    {"sms": ALIYUN_SECRET, "telephone": "13800138000", "smscontext": "alert"},
    {"dingding": DINGTALK_SECRET, "dingdingcontext": "hello alert"},
    {"jsonInput": {DINGTALK_TOKEN: 1}},
    {"dingdingcontext": {"content": "hello alert", DINGTALK_SECRET: 1}},
    {"dingdingMsgType": DINGTALK_TOKEN, "dingdingcontext": "hello alert"},
], ids=["email_selector_is_the_password", "sms_selector_is_the_access_key_secret",
        "dingding_selector_is_the_signing_secret",
        "jsonInput_key_is_the_token", "dingdingcontext_key_is_the_secret",
        "dingdingMsgType_is_the_token"])
def test_a_configured_secret_echoed_by_a_refusal_is_masked(params):
    with captured_logs() as logs:
        result = call_bounded(notify_by_custom, params, DEAD, what="notifyByCustom")
    check_notify_result(result, DEAD_SECRETS, logs)


@pytest.mark.parametrize("form", ["session_without_scheme", "session_http", "session_bad_path",
                                  "session_other_host", "session_percent_encoded"])
def test_a_session_webhook_in_any_form_is_not_shown(form):
    url = REPLY_BASE["sessionWebhook"]
    value = {"session_without_scheme": url.split("://", 1)[1],
             "session_http": url.replace("https", "http"),
             "session_bad_path": url.replace("sendBySession", "send"),
             "session_other_host": url.replace("127.0.0.1", "evil.example"),
             "session_percent_encoded": urllib.parse.quote(url, safe="")}[form]
    with captured_logs() as logs:
        result = call_bounded(reply_dingtalk, dict(REPLY_BASE, sessionWebhook=value), DEAD,
                              what=form)
    check_notify_result(result, DEAD_SECRETS, logs)


def test_a_delivered_robot_message_leaves_no_token_in_the_logs(signed_robot):
    """The valid path, at DEBUG: the HTTP client's own log lines carry the request URL."""
    config, server = signed_robot
    with captured_logs() as logs:
        result = call_bounded(notify_by_custom, {"dingding": "1", "dingdingcontext": "hello"},
                              config, what="notifyByCustom")
    assert result.status, result.message
    assert leaked("\n".join(logs), [DINGTALK_TOKEN, DINGTALK_SECRET]) == [], \
        "LEAK: the access token or the signature secret is in the logs: " + \
        next((line for line in logs if DINGTALK_TOKEN in line), "")[:200]


def test_a_delivered_session_reply_leaves_no_session_in_the_logs(signed_robot):
    config, server = signed_robot
    server.add_robot(FakeRobot(SESSION))
    with captured_logs() as logs:
        result = call_bounded(reply_dingtalk, {"sessionWebhook": server.session_webhook(SESSION),
                                               "dingdingcontext": "hello"}, config,
                              what="replyDingTalk")
    assert result.status, result.message
    assert SESSION not in "\n".join(logs), "LEAK: the session is in the logs"


# --- size ---------------------------------------------------------------------------------------

def test_a_1mb_email_title_is_refused_quickly_and_nothing_is_sent(smtp_config):
    config, server = smtp_config()
    started = time.monotonic()
    result = call_bounded(notify_by_custom, {"email": "1", "receivers": "a@163.com",
                                             "emailTitle": "A" * (1024 * 1024),
                                             "emailcontext": "body"}, config, what="emailTitle")
    assert time.monotonic() - started < 5
    assert refused_naming(result, "emailTitle"), f"NOT REFUSED: {result.message[:200]!r}"
    assert server.sessions == 0


@pytest.mark.parametrize("parameter,value", [
    ("receivers", ",".join(f"u{i}@163.com" for i in range(100_000))),
    ("telephone", ",".join(str(13800000000 + i) for i in range(100_000))),
    ("smscontext", "a" * (1024 * 1024)),
    ("emailTitle", ", ".join(map(str, range(200_000)))),
], ids=["100000_receivers", "100000_phones", "1mb_sms_text", "1mb_title_with_spaces"])
def test_a_huge_value_gets_a_result_in_bounded_time(parameter, value):
    """A hundred thousand recipients or a megabyte of text: refused, or one delivery per
    target, within the 5 s guard (the endpoints refuse connections at once)."""
    base = {"receivers": _EMAIL, "telephone": _PHONE, "smscontext": _PHONE,
            "emailTitle": _EMAIL}[parameter]
    result = call_bounded(notify_by_custom, _with(base, parameter, value), DEAD,
                          what=parameter)
    check_notify_result(result, DEAD_SECRETS)


# --- one delivery per target: nothing sent twice, no result lost ---------------------------------

def test_one_address_written_several_ways_gets_one_mail(smtp_config):
    config, server = smtp_config()
    result = call_bounded(notify_by_custom, {
        "email": "1", "receivers": ["alice@163.com", "ALICE@163.COM", "Alice <alice@163.com>",
                                    " alice@163.com "],
        "customReceiver": {"emails": ["Alice@163.com"]}, "emailcontext": "body"}, config)
    assert result.status, result.message
    assert len(result.deliveries) == 1 and len(server.received) == 1, \
        f"SENT TWICE: {len(server.received)} mails, {len(result.deliveries)} deliveries"


def test_one_number_written_several_ways_gets_one_sms(sms_config):
    config, server = sms_config(voice=False)
    result = call_bounded(notify_by_custom, {
        "sms": "1", "smscontext": "alert",
        "telephone": ["13800138000", "+86 138 0013 8000", "0086-13800138000", "8613800138000"],
        "customReceiver": [{"name": "A", "mobile": "+8613800138000"}]}, config)
    assert result.status, result.message
    numbers = [n for call in server.received for n in call.params["PhoneNumbers"].split(",")]
    assert len(result.deliveries) == 1 and numbers == ["13800138000"], \
        f"SENT TWICE: {numbers}, {len(result.deliveries)} deliveries"


def test_one_robot_named_several_ways_gets_one_message(signed_robot):
    config, server = signed_robot
    url = server.webhook(DINGTALK_TOKEN)
    result = call_bounded(notify_by_custom, {
        "dingding": "1", "dingdingcontext": "hello",
        "dingdingWebhooks": ["soc-oncall", "SOC-ONCALL", url, url.replace("https", "HTTPS"),
                             url.replace(DINGTALK_TOKEN, _pct_all(DINGTALK_TOKEN))],
        "customReceiver": {"dingtalk": [url, "soc-oncall"]}}, config)
    assert len(server.received) == 1 and len(result.deliveries) == 1, \
        f"SENT TWICE: {len(server.received)} messages, {len(result.deliveries)} deliveries; " \
        + result.message[:200]


def test_every_requested_target_has_a_result(smtp_config, signed_robot):
    """Two instances of the same robot URL in config and a fan-out on three channels: every
    target shows up exactly once in the result."""
    config, server = signed_robot
    smtp_conf, smtp = smtp_config()
    config.update(smtp_conf)
    config["dingtalk_robots"].append(dingtalk_robot(server, name="second", token="t2" * 20))
    server.add_robot(FakeRobot("t2" * 20))
    receivers = [f"u{i}@163.com" for i in range(30)]
    result = call_bounded(notify_by_custom, {
        "email": "1", "receivers": receivers, "emailcontext": "body", "dingding": "1",
        "dingdingWebhooks": ["soc-oncall", "second"], "dingdingcontext": "hello"}, config,
        timeout=30)
    targets = sorted(d.target for d in result.deliveries)
    assert targets == sorted(receivers + ["soc-oncall", "second"]), result.message[:300]
    assert sorted(r for m in smtp.received for r in m.rcpt_tos) == sorted(receivers)
    assert len(server.received) == 2
