"""The pack config as StackStorm hands it to an action: st2 fills in the config schema's
defaults and creates every object section of the schema, even one the user left out. The
library must read such a config exactly as the user wrote it."""

import copy
import os
import re

import pytest
import yaml
from helpers import PACK_DIR
from st2common.util.config_loader import ContentPackConfigLoader

from notify_message import ConfigError, PackConfig

with open(os.path.join(PACK_DIR, "config.schema.yaml")) as f:
    SCHEMA = yaml.safe_load(f)
# what the datastore would hold for the example's {{ st2kv.system.x | decrypt_kv }} values
DATASTORE = {
    "dingtalk_soc_oncall_webhook": "https://oapi.dingtalk.com/robot/send?access_token=aa11bb22",
    "dingtalk_soc_oncall_secret": "SECaa11bb22cc33",
    "dingtalk_soc_leads_webhook": "https://oapi.dingtalk.com/robot/send?access_token=dd44ee55",
    "dingtalk_soc_leads_secret": "SECdd44ee55ff66",
    "notify_message_aliyun_key_id": "LTAI5tExampleKeyId",
    "notify_message_aliyun_secret": "ExampleAccessKeySecret0123",
    "notify_message_dingtalk_app_secret": "ExampleAppSecret0123",
    "notify_message_smtp_163": "ExampleAuthCode163",
    "notify_message_smtp_alimail": "ExamplePasswordAlimail",
}
_ST2KV = re.compile(r"^\{\{ st2kv\.system\.(\w+) \| decrypt_kv \}\}$")


def _resolved(value):
    """The example as st2 renders it: every st2kv expression replaced by its datastore value
    (a key missing from DATASTORE fails here, so new example keys get a value)."""
    if isinstance(value, dict):
        return {k: _resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    match = _ST2KV.match(value) if isinstance(value, str) else None
    return DATASTORE[match.group(1)] if match else value


with open(os.path.join(PACK_DIR, "notify_message.yaml.example")) as f:
    EXAMPLE = _resolved(yaml.safe_load(f))
SMTP = {"assetname": "soc", "emailUsername": "soc@163.com", "emailPassword": "Xq7hTbLr9sWm2KpZ"}


def as_st2_builds_it(user_config):
    """st2's own default filling (the real one under st2, the stand-in without it)."""
    loader = ContentPackConfigLoader.__new__(ContentPackConfigLoader)  # no DB, no st2.conf
    config = copy.deepcopy(user_config)
    loader._assign_default_values(schema=SCHEMA, config=config)
    return config


@pytest.mark.parametrize("user_config", [{}, {"smtp_instances": [SMTP]}],
                         ids=["empty", "email only"])
def test_sections_the_user_left_out_stay_absent(user_config):
    built = as_st2_builds_it(user_config)
    assert "aliyun" in built and "message_center" in built  # st2 did create them
    config = PackConfig.from_mapping(built)
    assert config.aliyun is None and config.dingtalk_inbound is None
    assert config.message_center.provider == "local" and config.message_center.aliyun_soar is None


def test_the_shipped_example_reads_as_st2_builds_it():
    config = PackConfig.from_mapping(as_st2_builds_it(EXAMPLE))
    assert [i.assetname for i in config.smtp_instances] == ["soc-163", "corp-alimail"]
    assert config.default_smtp_instance.host == "smtp.163.com"


def test_the_schema_defaults_are_the_librarys_defaults():
    config = PackConfig.from_mapping(as_st2_builds_it({"smtp_instances": [SMTP]}))
    instance = config.smtp_instances[0]
    assert (instance.tls, instance.port, instance.verify, instance.max_sessions) == (
        "implicit", 465, True, 1)
    assert config.max_concurrency == 10


def test_a_provider_that_needs_a_missing_section_still_fails():
    built = as_st2_builds_it({"message_center": {"provider": "aliyun_soar"}})
    with pytest.raises(ConfigError) as err:
        PackConfig.from_mapping(built)
    assert err.value.key == "message_center.aliyun_soar"
