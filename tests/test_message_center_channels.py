"""Which channels a Message Center notification uses: requested ∩ configured, blank = all
configured, with the receiving-management statuses."""

import pytest

from notify_message import ConfigError, PackConfig
from notify_message.message_center.receiving import plan_channels

ALL_ON = {"sms": "on", "email": "on", "webhook": "on", "pmsg": "on"}


@pytest.mark.parametrize("requested, statuses, used", [
    # the seed's own example: asked pmsg + email, configured email + webhook -> email only
    (["pmsg", "email"], {"email": "on", "webhook": "on"}, ("email",)),
    ([], {"email": "on", "webhook": "on"}, ("email", "webhook")),
    ([], ALL_ON, ("sms", "email", "webhook", "pmsg")),
    (["sms"], ALL_ON, ("sms",)),
    ([], {"email": "mandatory", "sms": "banned", "pmsg": "off"}, ("email",)),
    (["sms", "email"], {"email": "mandatory", "sms": "banned"}, ("email",)),
    (["webhook"], {"email": "on"}, ()),
    ([], {}, ()),
])
def test_used_channels_are_the_intersection_of_requested_and_configured(requested, statuses,
                                                                        used):
    assert plan_channels(requested, statuses).used == used


def test_every_channel_left_out_says_why():
    plan = plan_channels(["sms", "webhook"], {"sms": "banned", "email": "on", "pmsg": "off"})
    assert plan.used == ()
    assert plan.skipped == {"sms": "requested but banned for this message type",
                            "webhook": "requested but off for this message type",
                            "email": "configured but not in channelTypeList"}


def recipient(subscriptions):
    config = PackConfig.from_mapping({"message_center": {"recipients": [
        {"aliuid": "1", "subscriptions": subscriptions}]}})
    return config.message_center.recipients["1"]


@pytest.mark.parametrize("written, status", [
    (-1, "mandatory"), ("-1", "mandatory"), ("mandatory", "mandatory"), (-2, "banned"),
    ("banned", "banned"), (0, "off"), ("off", "off"), (False, "off"), (1, "on"), ("on", "on"),
    (True, "on"), ("subscribed", "on"),
])
def test_statuses_are_read_as_numbers_names_or_yaml_booleans(written, status):
    assert recipient({"default": {"email": written}}).statuses("any")["email"] == status


def test_an_event_specific_subscription_wins_over_default():
    r = recipient({"default": {"email": "on"}, "yundun_soar_alert_generate": {"sms": "on"}})
    assert r.statuses("yundun_soar_alert_generate") == {"sms": "on", "email": "off",
                                                        "webhook": "off", "pmsg": "off"}
    assert r.statuses("yundun_soar_incident_generate")["email"] == "on"


@pytest.mark.parametrize("subscriptions, key", [
    ({"default": {"fax": "on"}}, "message_center.recipients[0].subscriptions.default.fax"),
    ({"default": {"email": "maybe"}}, "message_center.recipients[0].subscriptions.default.email"),
])
def test_a_bad_subscription_names_the_key(subscriptions, key):
    with pytest.raises(ConfigError) as err:
        recipient(subscriptions)
    assert err.value.key == key
