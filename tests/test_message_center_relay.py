"""notifyByMessageCenter through Alibaba Cloud SOAR's RunNotifyComponentWithMessageCenter,
against a loopback gateway that verifies the request signature independently."""

import json

import pytest
from helpers import ALIYUN_KEY_ID, ALIYUN_SECRET, aliyun_config, node_value_data

from notify_message.notifier import notify_by_message_center

PLAYBOOK_UUID = "c5c88b5e-97ca-435d-8c20-000000000001"  # the gateway knows this one
INCIDENT = {"incidentName": "n", "incidentID": "i", "startTime": "t"}


@pytest.fixture
def relay(aliyun_server, local_ca):
    """``relay(**behaviour)`` -> (config, gateway) with provider aliyun_soar."""

    def make(relay_section=None, **behaviour):
        gateway = aliyun_server(**behaviour)
        config = aliyun_config(gateway, local_ca)
        config["aliyun"]["endpoints"]["sophonsoar"] = gateway.url
        config["message_center"] = {"provider": "aliyun_soar", "aliyun_soar": dict(
            {"playbook_uuid": PLAYBOOK_UUID, "node_name": "NotifyMessage_1"},
            **(relay_section or {}))}
        return config, gateway

    return make


def test_sample_playbook_node_1_is_relayed_with_a_verified_signature(relay):
    config, gateway = relay()
    result = notify_by_message_center(node_value_data("notifyByMessageCenter"), config)
    assert result.status, result.message
    [delivery] = result.deliveries
    assert (delivery.channel, delivery.target) == ("message_center", "aliuid 1766xxxx")
    [call] = gateway.received
    assert call.action == "RunNotifyComponentWithMessageCenter"
    params = call.params
    assert (params["Aliuid"], params["EventId"], params["PlaybookUuid"], params["NodeName"],
            params["ComponentName"], params["ActionName"], params["Lang"]) == (
        "1766xxxx", "yundun_soar_incident_generate", PLAYBOOK_UUID, "NotifyMessage_1",
        "NotifyMessage", "notifyByMessageCenter", "zh")
    assert json.loads(params["Params"]) == {
        "incidentName": "Event generation test", "incidentID": "xxx",
        "startTime": "2025-02-03 00:00:00", "aliyunUID": "1766xxxx"}
    assert not any(name.startswith("ChannelTypeList") for name in params)  # blank = all
    assert delivery.reference and delivery.reference in delivery.detail
    assert result.to_dict()["provider"] == "aliyun_soar"


def test_requested_channels_are_sent_as_the_sdk_flattens_a_list(relay):
    config, gateway = relay()
    result = notify_by_message_center({"aliuid": "1", "eventId": "yundun_soar_incident_generate",
                                       "channelTypeList": '["sms","email"]',
                                       "params": INCIDENT}, config)
    assert result.status
    params = gateway.received[0].params
    assert (params["ChannelTypeList.1"], params["ChannelTypeList.2"]) == ("sms", "email")
    assert result.to_dict()["channels"] == {"requested": ["sms", "email"]}


@pytest.mark.parametrize("behaviour, relay_section, code, advice", [
    ({"soar_forbidden": True}, None, "Forbidden.RAM", "AliyunYundunSASFullAccess"),
    ({}, {"playbook_uuid": "not-a-playbook"}, "InvalidParameter", "DescribePlaybooks"),
])
def test_refusals_are_explained(relay, behaviour, relay_section, code, advice):
    config, gateway = relay(relay_section, **behaviour)
    result = notify_by_message_center({"aliuid": "1", "eventId": "yundun_soar_alert_generate",
                                       "params": {"alertName": "a", "alertID": "b",
                                                  "startTime": "c"}}, config)
    [delivery] = result.deliveries
    assert not result.status and delivery.code == code
    assert advice in delivery.detail and len(gateway.received) == 1


def test_a_wrong_secret_is_refused_by_the_gateway_and_never_shown(relay):
    config, _ = relay()
    config["aliyun"]["access_key_secret"] = "AnotherSecretThatIsWrong123"
    result = notify_by_message_center({"aliuid": "1", "eventId": "yundun_soar_incident_generate",
                                       "params": INCIDENT}, config)
    [delivery] = result.deliveries
    assert delivery.code == "SignatureDoesNotMatch"
    shown = json.dumps(result.to_dict())
    assert "AnotherSecretThatIsWrong123" not in shown and ALIYUN_KEY_ID not in shown
    assert ALIYUN_SECRET not in shown


def test_an_unanswered_request_is_not_sent_again(relay):
    config, gateway = relay(drop_first=1)
    result = notify_by_message_center({"aliuid": "1", "eventId": "yundun_soar_incident_generate",
                                       "params": INCIDENT}, config)
    [delivery] = result.deliveries
    assert not delivery.ok and delivery.detail.startswith("outcome unknown, not retried")
    assert gateway.requests == 1


def test_events_only_known_locally_are_refused_before_sending(relay):
    config, gateway = relay()
    config["message_center"]["templates"] = {"my_event": {"en": {"subject": "s", "body": "b"}}}
    result = notify_by_message_center({"aliuid": "1", "eventId": "my_event", "lang": "en"},
                                      config)
    assert not result.status and "parameter 'eventId'" in result.message
    assert gateway.requests == 0


@pytest.mark.parametrize("message_center, problem", [
    ({"provider": "aliyun_soar"}, "'message_center.aliyun_soar': is required"),
    ({"provider": "aliyun_soar", "aliyun_soar": {}}, "'message_center.aliyun_soar': is required"),
    ({"provider": "aliyun_soar", "aliyun_soar": {"node_name": "n"}},
     "'message_center.aliyun_soar.playbook_uuid': is required"),
])
def test_an_incomplete_relay_config_names_the_key(message_center, problem):
    result = notify_by_message_center({"aliuid": "1", "eventId": "yundun_soar_incident_generate",
                                       "params": INCIDENT}, {"message_center": message_center})
    assert not result.status and problem in result.message


def test_the_relay_needs_the_aliyun_account():
    result = notify_by_message_center(
        {"aliuid": "1", "eventId": "yundun_soar_incident_generate", "params": INCIDENT},
        {"message_center": {"provider": "aliyun_soar",
                            "aliyun_soar": {"playbook_uuid": PLAYBOOK_UUID}}})
    assert not result.status and "pack config 'aliyun': is required" in result.message
