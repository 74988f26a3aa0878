"""The DingTalk part of the pack config: named robots, the host rule and the secrets."""

import pytest

from notify_message import ConfigError, PackConfig

TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=" + TOKEN
SECRET = "SECa1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"


def settings(*robots, **top):
    return PackConfig.from_mapping(dict({"dingtalk_robots": list(robots)}, **top)).dingtalk


def robot(**fields):
    return dict({"name": "soc", "webhook": WEBHOOK}, **fields)


def test_a_robot_is_read_with_its_secret_keywords_and_mentions():
    [parsed] = settings(robot(secret=SECRET, keywords=["告警", "alert"],
                              at_mobiles=["138 0000 0000"], at_user_ids=["manager01"],
                              at_all=False, default=True)).robots
    assert parsed.name == "soc" and parsed.secret == SECRET
    assert parsed.webhook.access_token == TOKEN
    assert parsed.keywords == ("告警", "alert")
    assert parsed.at_mobiles == ("13800000000",) and parsed.at_user_ids == ("manager01",)
    assert parsed.default


def test_a_single_keyword_may_be_given_as_a_string():
    assert settings(robot(keywords="告警")).robots[0].keywords == ("告警",)


def test_the_robots_repr_and_masked_url_hide_the_token_and_secret():
    [parsed] = settings(robot(secret=SECRET)).robots
    assert TOKEN not in repr(parsed) and SECRET not in repr(parsed)
    assert parsed.webhook.masked == ("https://oapi.dingtalk.com/robot/send?access_token="
                                     + TOKEN[:4] + "***")


def test_every_robot_credential_is_a_secret_of_the_config():
    secrets = PackConfig.from_mapping({"dingtalk_robots": [robot(secret=SECRET)]}).secrets()
    assert {WEBHOOK, TOKEN, SECRET} <= set(secrets)


@pytest.mark.parametrize("webhook, problem", [
    ("http://oapi.dingtalk.com/robot/send?access_token=" + TOKEN, "https://"),
    ("https://evil.example.com/robot/send?access_token=" + TOKEN, "dingtalk_allowed_hosts"),
    ("https://oapi.dingtalk.com/robot/other?access_token=" + TOKEN, "/robot/send"),
    ("https://oapi.dingtalk.com:8443/robot/send?access_token=" + TOKEN, "port 443"),
    ("https://oapi.dingtalk.com/robot/send", "no access_token"),
    ("https://oapi.dingtalk.com/robot/send?access_token=", "no access_token"),
    (WEBHOOK + "&timestamp=1700000000000&sign=abc", "must not carry timestamp or sign"),
    ("https://u:p@oapi.dingtalk.com/robot/send?access_token=" + TOKEN, "user:password"),
    ("oapi.dingtalk.com/robot/send?access_token=" + TOKEN, "https://"),
])
def test_a_webhook_off_the_rules_is_refused_by_key_without_repeating_the_token(webhook, problem):
    with pytest.raises(ConfigError) as err:
        settings(robot(webhook=webhook))
    assert err.value.key == "dingtalk_robots[0].webhook" and problem in str(err.value)
    assert TOKEN not in str(err.value)


@pytest.mark.parametrize("allowed, webhook", [
    (["relay.corp.example"], "https://relay.corp.example/dingtalk/send?access_token=t1"),
    (["relay.corp.example:8443"], "https://relay.corp.example:8443/send?access_token=t1"),
    (["RELAY.corp.example"], "https://relay.corp.example:443/send?access_token=t1"),
])
def test_another_host_is_accepted_once_it_is_listed(allowed, webhook):
    [parsed] = settings(robot(webhook=webhook), dingtalk_allowed_hosts=allowed).robots
    assert parsed.webhook.access_token == "t1"


def test_an_allowed_host_with_a_port_allows_only_that_port():
    with pytest.raises(ConfigError, match="dingtalk_allowed_hosts"):
        settings(robot(webhook="https://relay.corp.example:9443/send?access_token=t1"),
                 dingtalk_allowed_hosts=["relay.corp.example:8443"])


def test_a_secret_that_is_not_a_signing_secret_is_refused():
    with pytest.raises(ConfigError) as err:
        settings(robot(secret=TOKEN))  # the token pasted where the secret belongs
    assert err.value.key == "dingtalk_robots[0].secret" and "SEC" in str(err.value)
    assert TOKEN not in str(err.value)


def test_two_robots_may_not_share_a_name():
    other = robot(webhook=WEBHOOK[:-1] + "0", name="SOC")
    with pytest.raises(ConfigError, match=r"dingtalk_robots\[1\]\.name"):
        settings(robot(), other)


def test_two_entries_for_the_same_robot_are_refused():
    with pytest.raises(ConfigError, match=r"dingtalk_robots\[1\]\.webhook"):
        settings(robot(), robot(name="copy"))


@pytest.mark.parametrize("field, value, key", [
    ("at_mobiles", ["not-a-phone"], "at_mobiles"),
    ("keywords", [["nested"]], "keywords"),
    ("at_all", "yes", "at_all"),
    ("name", "", "name"),
])
def test_a_malformed_robot_field_is_named(field, value, key):
    with pytest.raises(ConfigError) as err:
        settings(robot(**{field: value}))
    assert err.value.key == "dingtalk_robots[0]." + key


def test_retries_can_be_turned_off_but_not_made_negative():
    assert settings(dingtalk_retry_seconds=0).retry_seconds == 0
    with pytest.raises(ConfigError, match="dingtalk_retry_seconds"):
        settings(dingtalk_retry_seconds=-1)


def test_defaults_are_the_marked_robots_or_the_only_one():
    one = settings(robot())
    two = settings(robot(), robot(name="b", webhook=WEBHOOK[:-1] + "0"))
    marked = settings(robot(), robot(name="b", webhook=WEBHOOK[:-1] + "0", default=True))
    assert [r.name for r in one.default_robots] == ["soc"]
    assert two.default_robots == ()
    assert [r.name for r in marked.default_robots] == ["b"]
