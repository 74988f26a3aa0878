"""Every default that config.schema.yaml declares is the library's default: st2 fills schema
defaults in, the command line does not, and both must behave the same."""

import os

import pytest
import yaml
from conftest import PACK_DIR
from notify_message import PackConfig

# the least each section needs, so that everything else takes its default
MINIMAL = {
    "smtp_instances": [{"assetname": "soc", "emailUsername": "soc@163.com",
                        "emailPassword": "code"}],
    "dingtalk_robots": [{"name": "oncall", "webhook":
                         "https://oapi.dingtalk.com/robot/send?access_token=t0ken"}],
    "aliyun": {"access_key_id": "LTAIid", "access_key_secret": "secret"},
    "sms_profiles": [{"name": "oncall", "sign_name": "SOC", "template_code": "SMS_1",
                      "voice": {"tts_code": "TTS_1"}}],
}

# schema path -> where the parsed config keeps it
READ = {
    "smtp_instances[].tls": lambda c: c.smtp_instances[0].tls,
    "smtp_instances[].verify": lambda c: c.smtp_instances[0].verify,
    "smtp_instances[].timeout": lambda c: c.smtp_instances[0].timeout,
    "smtp_instances[].default": lambda c: c.smtp_instances[0].default,
    "smtp_instances[].max_sessions": lambda c: c.smtp_instances[0].max_sessions,
    "smtp_instances[].delivery": lambda c: c.smtp_instances[0].delivery,
    "smtp_instances[].max_recipients_per_message":
        lambda c: c.smtp_instances[0].max_recipients_per_message,
    "smtp_instances[].max_attachment_bytes": lambda c: c.smtp_instances[0].max_attachment_bytes,
    "smtp_instances[].retry_attempts": lambda c: c.smtp_instances[0].retry_attempts,
    "smtp_instances[].retry_backoff": lambda c: c.smtp_instances[0].retry_backoff,
    "smtp_instances[].retry_budget": lambda c: c.smtp_instances[0].retry_budget,
    "max_concurrency": lambda c: c.max_concurrency,
    "dingtalk_robots[].at_all": lambda c: c.dingtalk.robots[0].at_all,
    "dingtalk_robots[].default": lambda c: c.dingtalk.robots[0].default,
    "dingtalk_timeout": lambda c: c.dingtalk.timeout,
    "dingtalk_retry_seconds": lambda c: c.dingtalk.retry_seconds,
    "dingtalk_retry_backoff": lambda c: c.dingtalk.retry_backoff,
    "dingtalk_retry_unknown": lambda c: c.dingtalk.retry_unknown,
    "dingtalk_long_messages": lambda c: c.dingtalk.long_messages,
    "message_center.provider": lambda c: c.message_center.provider,
    "message_center.default_lang": lambda c: c.message_center.default_lang,
    "message_center.pmsg_ttl_days": lambda c: c.message_center.pmsg_ttl_days,
    "aliyun.region_id": lambda c: c.aliyun.region_id,
    "aliyun.timeout": lambda c: c.aliyun.timeout,
    "aliyun.retries": lambda c: c.aliyun.retries,
    "aliyun.retry_backoff": lambda c: c.aliyun.retry_backoff,
    "aliyun.verify": lambda c: c.aliyun.verify,
    "sms_profiles[].template_param": lambda c: c.sms_profiles[0].template_param,
    "sms_profiles[].voice.tts_param": lambda c: c.sms_profiles[0].voice.tts_param,
    "sms_profiles[].voice.play_times": lambda c: c.sms_profiles[0].voice.play_times,
    "sms_profiles[].voice.volume": lambda c: c.sms_profiles[0].voice.volume,
    "sms_profiles[].voice.speed": lambda c: c.sms_profiles[0].voice.speed,
    "sms_profiles[].default": lambda c: c.sms_profiles[0].default,
}


def schema_defaults():
    """(path, default) for every key of the schema that declares a default."""
    with open(os.path.join(PACK_DIR, "config.schema.yaml"), encoding="utf-8") as f:
        schema = yaml.safe_load(f)
    found, pending = [], [("", {"properties": schema})]
    while pending:
        path, node = pending.pop()
        for name, child in (node.get("properties") or {}).items():
            where = f"{path}.{name}" if path else name
            if "default" in child:
                found.append((where, child["default"]))
            pending.append((where, child))
        if isinstance(node.get("items"), dict):
            pending.append((path + "[]", node["items"]))
    return sorted(found)


DEFAULTS = schema_defaults()


def test_every_schema_default_is_checked():
    assert sorted(path for path, _ in DEFAULTS) == sorted(READ)


@pytest.mark.parametrize("path, default", DEFAULTS)
def test_the_schema_default_is_the_library_default(path, default):
    assert READ[path](PackConfig.from_mapping(MINIMAL)) == default


def test_the_library_knows_every_secret_key_of_the_schema():
    from notify_message.config.pack import SECRET_KEYS

    with open(os.path.join(PACK_DIR, "config.schema.yaml"), encoding="utf-8") as f:
        schema = yaml.safe_load(f)
    found, pending = set(), [{"properties": schema}]
    while pending:
        node = pending.pop()
        for name, child in (node.get("properties") or {}).items():
            if child.get("secret"):
                found.add(name)
            pending.append(child)
        if isinstance(node.get("items"), dict):
            pending.append(node["items"])
    assert found == SECRET_KEYS
