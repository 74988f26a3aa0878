"""The sample rules and policy: shipped disabled, wired to what exists, and - for the rules -
rendering into parameters the actions accept for a realistic trigger payload."""

import glob
import os

import pytest
import yaml
from helpers import PACK_DIR
from notify_message import PackConfig
from notify_message.custom.request import parse_custom_request
from notify_message.message_center.request import parse_message_center_request
from notify_message.message_center.templates import TemplateBook
from st2common.util.jinja import get_jinja_environment


def load(folder):
    items = {}
    for path in sorted(glob.glob(os.path.join(PACK_DIR, folder, "*.yaml"))):
        with open(path) as f:
            items[os.path.basename(path)] = yaml.safe_load(f)
    return items


RULES = load("rules")
POLICIES = load("policies")


def action_metadata(ref):
    pack, name = ref.split(".")
    assert pack == "notify_message", ref
    with open(os.path.join(PACK_DIR, "actions", name + ".yaml")) as f:
        return yaml.safe_load(f)


def pack_trigger_types():
    names = {"notify_message." + t["name"] for t in load("triggers").values()}
    for sensor in load("sensors").values():
        names |= {"notify_message." + t["name"] for t in sensor.get("trigger_types", [])}
    return names


def render(value, context):
    env = get_jinja_environment(allow_undefined=False)
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, str):
        return env.from_string(value).render(context)
    return value


@pytest.mark.parametrize("name", sorted(RULES) + sorted(POLICIES))
def test_samples_are_shipped_disabled(name):
    item = RULES.get(name) or POLICIES[name]
    assert item["enabled"] is False


@pytest.mark.parametrize("name", sorted(RULES))
def test_rules_fire_existing_actions_with_declared_parameters(name):
    rule = RULES[name]
    declared = action_metadata(rule["action"]["ref"])["parameters"]
    assert set(rule["action"]["parameters"]) <= set(declared)
    assert rule["trigger"]["type"] in pack_trigger_types() | {"core.st2.webhook"}


def test_the_webhook_rule_turns_an_alert_into_a_message_center_request():
    rule = RULES["webhook_alert_to_message_center.yaml"]
    alert = {"aliuid": "1766xxxx", "alertName": "Webshell found", "alertID": "a-42",
             "startTime": "2025-02-03 00:00:00"}
    params = render(rule["action"]["parameters"], {"trigger": {"body": alert}})
    request = parse_message_center_request(params, TemplateBook(), "zh")
    assert (request.aliuid, request.event_id, request.lang) == (
        "1766xxxx", "yundun_soar_alert_generate", "zh")
    assert "Webshell found" in request.render().subject + request.render().body
    assert set(rule["criteria"]) == {"trigger.body.aliuid", "trigger.body.alertName",
                                     "trigger.body.alertID"}


def test_the_internal_message_rule_forwards_subject_and_body_by_email():
    rule = RULES["internal_message_to_email.yaml"]
    message = {"id": "20250203-1", "aliuid": "1766xxxx",
               "event_id": "yundun_soar_incident_generate", "lang": "zh",
               "subject": "检测到新的安全事件 Brute force(inc-7)",
               "body": "Dear 1766xxxx ...", "created_at": "2025-02-03T00:00:00Z"}
    params = render(rule["action"]["parameters"], {"trigger": message})
    config = PackConfig.from_mapping({"smtp_instances": [
        {"assetname": "soc", "emailUsername": "soc@163.com", "emailPassword": "x"}]})
    email = parse_custom_request(params, config).email
    assert email.subject == message["subject"] and email.body.startswith(message["body"])
    assert email.recipients == ("soc-oncall@163.com",)
    assert rule["criteria"]["trigger.event_id"]["pattern"] == message["event_id"]


def test_the_policy_serialises_posts_per_dingtalk_robot_on_notify_by_custom():
    [policy] = POLICIES.values()
    assert policy["policy_type"] == "action.concurrency.attr"
    declared = action_metadata(policy["resource_ref"])["parameters"]
    assert policy["parameters"]["attributes"] == ["dingdingWebhooks"]
    assert set(policy["parameters"]["attributes"]) <= set(declared)
    assert policy["parameters"]["threshold"] == 1 and policy["parameters"]["action"] == "delay"
