"""Hostile servers, hostile input: every attempt has a deadline for the whole exchange, answers
are read within bounds, an unexpected exception costs one delivery its outcome and no more,
a refusal never shows a secret, and what may have arrived is said so."""

import time

import pytest
from helpers import DINGTALK_SECRET, DINGTALK_TOKEN, SMTP_CODE, SMTP_LOGIN
from notify_message import PackConfig, notify_by_custom
from notify_message.result import Outcome
from testkit.hostile_server import HostileServer

WITHIN = 8.0   # seconds: far below what the hostile servers would hold a client for (30 s)
TOKEN = "0123456789abcdef0123456789abcdef"


def mail_config(port, local_ca, **instance):
    return {"smtp_instances": [dict({
        "assetname": "soc", "emailSendServer": "127.0.0.1:%d" % port,
        "emailUsername": SMTP_LOGIN, "emailPassword": SMTP_CODE, "ca_bundle": local_ca.ca_file,
        "timeout": 0.5}, **instance)]}


def robot_config(port, local_ca, **settings):
    return dict({
        "dingtalk_robots": [{"name": "oncall", "default": True,
                             "webhook": "https://127.0.0.1:%d/robot/send?access_token=%s"
                                        % (port, TOKEN)}],
        "dingtalk_allowed_hosts": ["127.0.0.1:%d" % port], "dingtalk_ca_bundle": local_ca.ca_file,
        "dingtalk_timeout": 0.5, "dingtalk_retry_seconds": 0}, **settings)


@pytest.fixture(scope="module")
def hostile(local_ca):
    """``hostile(mode, **options)``: a running HostileServer, one per kind for the module
    (connections are counted from the call on)."""
    servers = {}

    def get(mode, **options):
        key = (mode, tuple(sorted(options.items())))
        if key not in servers:
            server = HostileServer(mode, tls_pem=local_ca.server_pem, **options)
            servers[key] = server.__enter__()
        server = servers[key]
        server.baseline = server.connections
        return server

    yield get
    for server in servers.values():
        server.__exit__()


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


# --- deadlines for the whole attempt --------------------------------------------------------

def test_an_smtp_server_that_drips_its_greeting_cannot_stretch_the_attempt(hostile, local_ca):
    server = hostile("smtp-drip", interval=0.1)
    result, seconds = timed(lambda: notify_by_custom(
        {"receivers": "a@163.com", "emailcontext": "x"},
        mail_config(server.port, local_ca)))
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.NOT_SENT
    assert "timed out after 0.5s" in delivery.detail


@pytest.mark.parametrize("mode", ["http-drip", "silent"])
def test_an_unfinished_dingtalk_answer_is_cut_at_the_deadline(hostile, local_ca, mode):
    server = hostile(mode, interval=0.1)
    result, seconds = timed(lambda: notify_by_custom(
        {"dingding": 1, "dingdingcontext": "x"}, robot_config(server.port, local_ca)))
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.UNKNOWN
    assert "no answer from 127.0.0.1" in delivery.detail and delivery.uncertain_attempts == 1


def test_the_retry_budget_bounds_the_whole_delivery_attempts_included(hostile, local_ca):
    server = hostile("http-drip", interval=0.1)
    result, seconds = timed(lambda: notify_by_custom(
        {"dingding": 1, "dingdingcontext": "x"},
        robot_config(server.port, local_ca, dingtalk_timeout=0.6,
                     dingtalk_retry_seconds=1.5, dingtalk_retry_backoff=0.05)))
    connections = server.connections - server.baseline
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.UNKNOWN
    assert delivery.attempts == connections >= 2 and delivery.uncertain_attempts == connections


def test_an_answer_that_may_have_arrived_is_not_retried_when_told_so(hostile, local_ca):
    server = hostile("silent")
    result = notify_by_custom(
        {"dingding": 1, "dingdingcontext": "x"},
        robot_config(server.port, local_ca, dingtalk_retry_seconds=5,
                     dingtalk_retry_unknown=False))
    connections = server.connections - server.baseline
    [delivery] = result.deliveries
    assert delivery.outcome is Outcome.UNKNOWN and delivery.attempts == connections == 1
    assert "dingtalk_retry_unknown is false" in delivery.detail


def test_an_alibaba_endpoint_that_drips_is_cut_and_the_sms_not_sent_twice(hostile, local_ca):
    server = hostile("http-drip", interval=0.1)
    config = {
        "aliyun": {"access_key_id": "LTAIkey", "access_key_secret": "s3cretKeySecret",
                   "timeout": 0.5, "retries": 2, "ca_bundle": local_ca.ca_file,
                   "endpoints": {"dysmsapi": "https://127.0.0.1:%d/" % server.port},
                   "allowed_endpoint_hosts": ["127.0.0.1"]},
        "sms_profiles": [{"name": "oncall", "sign_name": "SOC", "template_code": "SMS_1"}],
    }
    result, seconds = timed(lambda: notify_by_custom(
        {"telephone": "13800138000", "smscontext": "x"}, config))
    connections = server.connections - server.baseline
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.UNKNOWN and connections == 1
    assert delivery.detail.startswith("outcome unknown, not retried")


def test_a_trigger_dispatch_to_a_dripping_st2_api_gives_up_at_its_deadline():
    from lib.base import TriggerDispatcher

    server = HostileServer("http-drip", interval=0.1).__enter__()
    try:
        dispatcher = TriggerDispatcher({"ST2_ACTION_API_URL": "http://127.0.0.1:%d/v1"
                                        % server.port, "ST2_ACTION_AUTH_TOKEN": "t0ken"},
                                       timeout=0.5)
        said, seconds = timed(lambda: dispatcher.dispatch("notify_message.internal_message",
                                                          {"id": "1"}))
    finally:
        server.__exit__()
    assert seconds < WITHIN and said.endswith("no answer from the st2 API within 0.5s")
    assert "may not have been dispatched" in said


# --- answers within bounds -----------------------------------------------------------------

@pytest.mark.parametrize("mode", ["http-huge", "http-deep"])
def test_an_answer_too_large_or_too_deep_is_unknown_not_a_crash(hostile, local_ca, mode):
    server = hostile(mode, size=2_000_000)
    result = notify_by_custom({"dingding": 1, "dingdingcontext": "x"},
                              robot_config(server.port, local_ca))
    [delivery] = result.deliveries
    assert delivery.outcome is Outcome.UNKNOWN and not result.status


# --- SMTP sessions -------------------------------------------------------------------------

def test_a_421_at_mail_closes_the_session_and_allows_one_new_login_only(smtp_config):
    config, server = smtp_config(mail_reply="421 Service not available, closing channel",
                                 instance_overrides={"retry_backoff": 0.01})
    result = notify_by_custom({"receivers": "a@163.com,b@163.com,c@163.com,d@163.com",
                               "emailcontext": "x"}, config)
    assert [(d.outcome, d.code) for d in result.deliveries] == [(Outcome.FAILED, "421")] * 4
    assert server.sessions == 2 and "no login loop" in result.deliveries[3].detail


def test_a_421_per_recipient_fails_the_messages_tried_and_the_rest_are_not_sent(smtp_config):
    config, server = smtp_config(mail_reply="421 Service not available, closing channel",
                                 instance_overrides={"retry_attempts": 1})
    result = notify_by_custom({"receivers": "a@163.com,b@163.com,c@163.com,d@163.com",
                               "emailcontext": "x", "emailPerRecipient": True}, config)
    outcomes = [d.outcome for d in result.deliveries]
    assert outcomes == [Outcome.FAILED, Outcome.FAILED, Outcome.NOT_SENT, Outcome.NOT_SENT]
    assert server.sessions == 2 and "no login loop" in result.deliveries[3].detail


def test_a_session_dropped_at_data_is_outcome_unknown_and_not_sent_again(smtp_config):
    config, server = smtp_config(drop_on_data=True)
    result = notify_by_custom({"receivers": "a@163.com", "emailcontext": "x"}, config)
    [delivery] = result.deliveries
    assert delivery.outcome is Outcome.UNKNOWN and "not sent again" in delivery.detail


# --- no lost results -----------------------------------------------------------------------

def test_an_unexpected_exception_in_one_channel_keeps_the_others_results(smtp_config,
                                                                         monkeypatch):
    import notify_message.channels.dingtalk.send as dingtalk_send

    async def broken(self, robot, message):
        raise ValueError("a library bug with a token %s in its text" % TOKEN)

    monkeypatch.setattr(dingtalk_send._Sender, "deliver", broken)
    config, server = smtp_config()
    webhook = "https://oapi.dingtalk.com/robot/send?access_token=" + TOKEN
    config.update({"dingtalk_robots": [{"name": "oncall", "webhook": webhook}]})
    result = notify_by_custom({"receivers": "a@163.com", "emailcontext": "x",
                               "dingdingWebhooks": "oncall", "dingdingcontext": "x"}, config)
    assert len(result.deliveries) == 2, result.message
    email, robot = result.deliveries
    assert email.ok and len(server.received) == 1
    assert robot.outcome is Outcome.UNKNOWN and "ValueError" in robot.detail
    assert TOKEN not in str(result.to_dict())


# --- secrets in every refusal --------------------------------------------------------------

@pytest.mark.parametrize("given", [
    "oapi.dingtalk.com/robot/send?access_token=" + TOKEN,             # without scheme
    "https://evil.example/robot/send?access_token=" + TOKEN,          # refused for its host
    "https://oapi.dingtalk.com/robot/send?access_token=%s&x=%%0a" % TOKEN,
    TOKEN,                                                            # the bare token
    "https%3A%2F%2Foapi.dingtalk.com%2Frobot%2Fsend%3Faccess_token%3D" + TOKEN,
])
def test_a_configured_robot_token_never_shows_in_a_refusal(given):
    config = {"dingtalk_robots": [{"name": "oncall", "webhook":
                                   "https://oapi.dingtalk.com/robot/send?access_token=" + TOKEN}]}
    for params in ({"dingding": 1, "dingdingWebhooks": given, "dingdingcontext": "x"},
                   {"dingding": 1, "dingdingWebhooks": [given], "dingdingcontext": "x"},
                   {"customReceiver": {"dingtalk": [given]}, "dingdingcontext": "x"}):
        result = notify_by_custom(params, config)
        assert not result.status and TOKEN not in str(result.to_dict()), params


def test_a_password_never_shows_when_the_config_does_not_parse():
    config = {"smtp_instances": [{"assetname": "soc", "emailUsername": "not-an-address",
                                  "emailPassword": "hunter2-secret"}]}
    result = notify_by_custom({"receivers": "hunter2-secret@163.com", "emailcontext": "x"},
                              config)
    assert not result.status and "hunter2-secret" not in str(result.to_dict())


# --- hostile text in parameters ------------------------------------------------------------

@pytest.mark.parametrize("char", ["\x00", "\t", "\r", "\n", "\x1b", "\x7f", "\x85", "\u2028",
                                  "\u2029"])
@pytest.mark.parametrize("parameter, value", [
    ("emailTitle", "Alert{c}Bcc: x@evil.example"),
    ("receivers", "oncall@163.com{c}"),
    ("receivers", "On{c}call <oncall@163.com>"),
])
def test_a_control_character_in_a_header_value_is_refused_naming_the_parameter(
        smtp_config, char, parameter, value):
    config, server = smtp_config()
    params = {"receivers": "oncall@163.com", "emailcontext": "x", "emailTitle": "Alert"}
    params[parameter] = value.format(c=char)
    result = notify_by_custom(params, config)
    if parameter == "receivers" and char.isspace() and "<" not in value:
        # white space separates addresses in a list: the address itself stays clean
        assert result.status
    else:
        assert not result.status and "'%s'" % parameter in result.message
        assert server.received == []


@pytest.mark.parametrize("char", ["\t", "\n", "\x00", "\u2028"])
def test_a_control_character_in_a_webhook_url_is_refused_as_sent(char):
    url = "https://oapi.dingtalk.com/robot/send?access_token=ab%scd" % char
    result = notify_by_custom({"dingding": 1, "dingdingWebhooks": [url],
                               "dingdingcontext": "x"}, {})
    assert not result.status and "dingdingWebhooks" in result.message


@pytest.mark.parametrize("value", ["[" * 100_000, "[" * 40 + "]" * 40, "[%s]" % ("9" * 5000)])
def test_hostile_json_in_a_parameter_is_a_clean_refusal(value):
    result = notify_by_custom({"email": 1, "receivers": value, "emailcontext": "x"},
                              {"smtp_instances": [{"assetname": "soc",
                                                   "emailUsername": "soc@163.com",
                                                   "emailPassword": "code"}]})
    assert not result.status and "'receivers'" in result.message


def test_a_deeply_nested_structure_is_refused_too():
    value = []
    for _ in range(10_000):
        value = [value]
    result = notify_by_custom({"customReceiver": value, "emailcontext": "x"}, {})
    assert not result.status and "customReceiver" in result.message


def test_a_one_megabyte_subject_is_refused_before_anything_is_built(smtp_config):
    config, server = smtp_config()
    result, seconds = timed(lambda: notify_by_custom(
        {"receivers": "a@163.com", "emailcontext": "x", "emailTitle": "告" * 1_000_000}, config))
    assert not result.status and "'emailTitle'" in result.message and seconds < WITHIN
    assert server.received == []


# --- hostile config ------------------------------------------------------------------------

@pytest.mark.parametrize("instance, key", [
    ({"timeout": float("nan")}, "smtp_instances[0].timeout"),
    ({"timeout": float("inf")}, "smtp_instances[0].timeout"),
    ({"max_sessions": 0.5}, "smtp_instances[0].max_sessions"),
    ({"max_sessions": 0}, "smtp_instances[0].max_sessions"),
    ({"emailSendServer": "smtps://smtp.163.com:465"}, "smtp_instances[0].emailSendServer"),
    ({"emailSendServer": "smtp.163.com\r\n:465"}, "smtp_instances[0].emailSendServer"),
    ({"sender_name": "SOC\r\nBcc: x@evil.example"}, "smtp_instances[0].sender_name"),
])
def test_a_hostile_config_value_is_refused_naming_its_key(instance, key):
    config = {"smtp_instances": [dict({"assetname": "soc", "emailUsername": "soc@163.com",
                                       "emailPassword": "code"}, **instance)]}
    result = notify_by_custom({"receivers": "a@163.com", "emailcontext": "x"}, config)
    assert not result.status and "'%s'" % key in result.message


@pytest.mark.parametrize("concurrency", [0, -1, 0.5, float("nan"), True])
def test_max_concurrency_is_a_positive_whole_number(concurrency):
    result = notify_by_custom({"receivers": "a@163.com", "emailcontext": "x"},
                              {"max_concurrency": concurrency})
    assert not result.status and "'max_concurrency'" in result.message


def test_a_template_with_a_stray_dollar_is_refused_when_the_config_is_read():
    config = {"message_center": {"templates": {"my_event": {"en": {
        "subject": "Cost: 5$ per alert", "body": "b"}}}}}
    from notify_message import ConfigError
    with pytest.raises(ConfigError, match=r"message_center\.templates\.my_event\.en\.subject"):
        PackConfig.from_mapping(config)
    config["message_center"]["templates"]["my_event"]["en"]["subject"] = "Cost: 5$$ per $n"
    assert PackConfig.from_mapping(config).message_center.templates.get("my_event", "en")


def test_the_signed_robot_fixture_still_delivers(signed_robot):
    """The hardening leaves a genuine delivery as it was."""
    config, server = signed_robot
    result = notify_by_custom({"dingding": 1, "dingdingcontext": "告警 x"}, config)
    assert result.status and result.deliveries[0].uncertain_attempts == 0
    assert DINGTALK_TOKEN not in str(result.to_dict()) and DINGTALK_SECRET not in str(
        result.to_dict())


@pytest.mark.parametrize("endpoint", ["[" * 30, "https://[not-an-ip]/", "https://h:99999/",
                                      "https://user:pw@dysmsapi.aliyuncs.com/"])
def test_an_endpoint_urlsplit_cannot_read_is_refused_naming_its_key(endpoint):
    from notify_message import ConfigError
    config = {"aliyun": {"access_key_id": "LTAIkey", "access_key_secret": "s3cret",
                         "endpoints": {"dysmsapi": endpoint}}}
    with pytest.raises(ConfigError, match=r"aliyun\.endpoints\.dysmsapi"):
        PackConfig.from_mapping(config)


def test_a_bad_entry_of_a_config_list_is_named_by_its_index():
    from notify_message import ConfigError
    config = {"dingtalk_robots": [{"name": "oncall", "keywords": ["告警", "alert\u2028x"],
                                   "webhook": "https://oapi.dingtalk.com/robot/send"
                                              "?access_token=" + TOKEN}]}
    with pytest.raises(ConfigError, match=r"'dingtalk_robots\[0\]\.keywords\[1\]'"):
        PackConfig.from_mapping(config)


@pytest.mark.parametrize("timestamp", ["9" * 5000, "\u0661\u0662\u0663", "+1", "1e3"])
def test_an_inbound_timestamp_that_is_not_ascii_milliseconds_is_refused(timestamp):
    from notify_message.channels.dingtalk.inbound import InboundRejected, InboundVerifier
    with pytest.raises(InboundRejected, match="not milliseconds"):
        InboundVerifier("SECx").verify_signature({"timestamp": timestamp, "sign": "x"}, 0)
