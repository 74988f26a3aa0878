"""The SMTP resource instance config: fields, server inference, TLS mode and port rules."""

import pytest

from notify_message import ConfigError, PackConfig
from notify_message.channels.email.providers import SMTP_SERVERS_BY_DOMAIN, infer_smtp_host

BASE = {"assetname": "a", "emailUsername": "soc@163.com", "emailPassword": "Xq7hTbLr9sWm2KpZ"}


def instance(**fields):
    entry = dict(BASE, **fields)
    return PackConfig.from_mapping({"smtp_instances": [entry]}).smtp_instances[0]


@pytest.mark.parametrize("address, host", [
    ("a@qq.com", "smtp.qq.com"),
    ("a@foxmail.com", "smtp.qq.com"),
    ("a@163.com", "smtp.163.com"),
    ("a@126.com", "smtp.126.com"),
    ("a@gmail.com", "smtp.gmail.com"),
    ("a@aliyun.com", "smtp.aliyun.com"),
    ("A@QQ.COM", "smtp.qq.com"),
])
def test_server_is_inferred_from_the_sender_domain_on_port_465(address, host):
    inferred = instance(emailUsername=address)
    assert (inferred.host, inferred.port, inferred.tls) == (host, 465, "implicit")
    assert infer_smtp_host(address) == SMTP_SERVERS_BY_DOMAIN[address.split("@")[1].lower()]


def test_a_custom_domain_cannot_be_inferred_and_the_error_names_alibaba_mail_enterprise():
    with pytest.raises(ConfigError) as err:
        instance(emailUsername="soc@example.com")
    assert err.value.key == "smtp_instances[0].emailSendServer"
    assert "smtp.qiye.aliyun.com:465" in str(err.value)


@pytest.mark.parametrize("server, host, port", [
    ("smtp.qiye.aliyun.com", "smtp.qiye.aliyun.com", 465),
    ("smtp.qiye.aliyun.com:465", "smtp.qiye.aliyun.com", 465),
    ("127.0.0.1:2465", "127.0.0.1", 2465),
    ("[::1]:2465", "::1", 2465),
])
def test_email_send_server_takes_host_or_host_and_port(server, host, port):
    parsed = instance(emailSendServer=server)
    assert (parsed.host, parsed.port) == (host, port)


@pytest.mark.parametrize("server", ["smtp.x.com:abc", "smtp.x.com:0", "smtp.x.com:70000",
                                    "a b:465"])
def test_a_malformed_email_send_server_is_refused(server):
    with pytest.raises(ConfigError, match="emailSendServer"):
        instance(emailSendServer=server)


def test_port_25_is_refused_with_the_alibaba_cloud_explanation():
    with pytest.raises(ConfigError) as err:
        instance(emailSendServer="smtp.163.com:25")
    assert "blocked on Alibaba Cloud" in str(err.value) and "465" in str(err.value)


@pytest.mark.parametrize("tls", ["starttls", "plain"])
def test_port_25_is_allowed_only_with_an_explicit_tls_mode(tls):
    assert instance(emailSendServer="relay.corp:25", tls=tls).port == 25


def test_port_587_without_an_explicit_tls_mode_is_refused():
    with pytest.raises(ConfigError, match="587 speaks STARTTLS"):
        instance(emailSendServer="smtp.gmail.com:587")
    assert instance(emailSendServer="smtp.gmail.com:587", tls="starttls").tls == "starttls"


@pytest.mark.parametrize("missing", ["assetname", "emailUsername", "emailPassword"])
def test_required_fields_are_named_when_missing(missing):
    entry = dict(BASE)
    del entry[missing]
    with pytest.raises(ConfigError) as err:
        PackConfig.from_mapping({"smtp_instances": [entry]})
    assert err.value.key == "smtp_instances[0].%s" % missing


def test_errors_never_contain_the_password():
    with pytest.raises(ConfigError) as err:
        instance(tls="bogus")
    assert BASE["emailPassword"] not in str(err.value)
    assert BASE["emailPassword"] not in repr(instance())


def test_default_instance_is_the_marked_one_else_the_first():
    two = [dict(BASE, assetname="a"), dict(BASE, assetname="b", default=True)]
    assert PackConfig.from_mapping({"smtp_instances": two}).default_smtp_instance.assetname == "b"
    two[1]["default"] = False
    assert PackConfig.from_mapping({"smtp_instances": two}).default_smtp_instance.assetname == "a"


def test_duplicate_asset_names_and_two_defaults_are_refused():
    with pytest.raises(ConfigError, match="already used"):
        PackConfig.from_mapping({"smtp_instances": [BASE, BASE]})
    with pytest.raises(ConfigError, match="at most one"):
        PackConfig.from_mapping({"smtp_instances": [dict(BASE, default=True),
                                                    dict(BASE, assetname="b", default=True)]})


def test_an_empty_or_missing_config_is_valid():
    assert PackConfig.from_mapping(None).smtp_instances == ()
    assert PackConfig.from_mapping({}).default_smtp_instance is None
