"""Shared fixtures: the pack's import paths, the st2 stand-in, and loopback servers."""

import contextlib
import os
import sys

import pytest

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (os.path.join(PACK_DIR, "actions", "lib"), os.path.join(PACK_DIR, "actions"), PACK_DIR):
    if path not in sys.path:
        sys.path.insert(0, path)

try:  # the real StackStorm, under st2-run-pack-tests / st2check --pytest
    import st2common.runners.base_action  # noqa: F401
    import st2tests.base  # noqa: F401
except ImportError:  # plain pytest: the declared stand-in
    sys.path.insert(0, os.path.join(PACK_DIR, "tests", "st2_standin"))

from testkit.smtp_server import LocalSmtpServer, SmtpBehaviour  # noqa: E402
from testkit.tls import make_local_ca  # noqa: E402

SMTP_LOGIN = "soc-alerts@163.com"
SMTP_CODE = "Xq7hTbLr9sWm2KpZ"  # a made-up authorization code; must never show in results


@pytest.fixture(scope="session")
def local_ca():
    ca = make_local_ca()
    yield ca
    ca.cleanup()


@pytest.fixture
def smtp_server(local_ca):
    """Start loopback SMTP servers: ``smtp_server(**SmtpBehaviour fields)``; implicit TLS
    and AUTH with SMTP_LOGIN / SMTP_CODE unless told otherwise."""
    with contextlib.ExitStack() as running:  # every server started is stopped

        def start(tls=True, **behaviour):
            behaviour.setdefault("accounts", {SMTP_LOGIN: SMTP_CODE})
            server = LocalSmtpServer(local_ca.server_pem if tls else None,
                                     SmtpBehaviour(**behaviour))
            return running.enter_context(server)

        yield start


def smtp_instance(server, local_ca, **overrides):
    """A config entry for an SMTP instance pointing at a loopback server."""
    instance = {
        "assetname": "soc-163",
        "emailSendServer": "127.0.0.1:%d" % server.port,
        "emailUsername": SMTP_LOGIN,
        "emailPassword": SMTP_CODE,
        "ca_bundle": local_ca.ca_file,
        "timeout": 5,
    }
    instance.update(overrides)
    return instance


@pytest.fixture
def smtp_config(smtp_server, local_ca):
    """``smtp_config(**behaviour)`` -> (pack config, server) with one instance."""

    def make(instance_overrides=None, **behaviour):
        server = smtp_server(**behaviour)
        instance = smtp_instance(server, local_ca, **(instance_overrides or {}))
        return {"smtp_instances": [instance]}, server

    return make


# --- Alibaba Cloud SMS and voice ----------------------------------------------------------

from testkit.aliyun_server import AliyunBehaviour, LocalAliyunServer  # noqa: E402

ALIYUN_KEY_ID = "LTAI5tQm8LocalTestKey"          # made up; like the secret, never in results
ALIYUN_SECRET = "sV3kR9pX2wL7nQ4tB8mZ1cF6hJ0dYe"
SIGN_NAME, SMS_TEMPLATE, TTS_TEMPLATE = "云安全中心", "SMS_460000001", "TTS_460000001"
SHOW_NUMBER = "057112345678"


@pytest.fixture(scope="session")
def aliyun_server_pem(local_ca):
    """Key and certificate chain for the loopback gateway, issued by the local CA."""
    return local_ca.server_pem


@pytest.fixture
def aliyun_server(aliyun_server_pem):
    """Start loopback Alibaba Cloud gateways (child processes):
    ``aliyun_server(**AliyunBehaviour fields)``; HTTPS with the local CA and the
    ALIYUN_KEY_ID / ALIYUN_SECRET account."""
    with contextlib.ExitStack() as running:  # every server started is stopped

        def start(tls=True, **behaviour):
            behaviour.setdefault("accounts", {ALIYUN_KEY_ID: ALIYUN_SECRET})
            server = LocalAliyunServer(AliyunBehaviour(**behaviour),
                                       aliyun_server_pem if tls else None)
            return running.enter_context(server)

        yield start


def aliyun_config(server, local_ca, voice=True, profile=None, **aliyun):
    """A pack config with the aliyun account pointing at a loopback server and one SMS
    profile (with a voice template unless ``voice=False``)."""
    section = {
        "access_key_id": ALIYUN_KEY_ID,
        "access_key_secret": ALIYUN_SECRET,
        "endpoints": {"dysmsapi": server.url, "dyvmsapi": server.url},
        "allowed_endpoint_hosts": ["127.0.0.1"],
        "ca_bundle": local_ca.ca_file,
        "timeout": 5,
        "retry_backoff": 0,
    }
    section.update(aliyun)
    entry = {"name": "oncall", "sign_name": SIGN_NAME, "template_code": SMS_TEMPLATE,
             "template_param": "content"}
    if voice:
        entry["voice"] = {"tts_code": TTS_TEMPLATE, "tts_param": "content",
                          "show_number": SHOW_NUMBER}
    entry.update(profile or {})
    return {"aliyun": section, "sms_profiles": [entry]}


@pytest.fixture
def sms_config(aliyun_server, local_ca):
    """``sms_config(voice=True, profile=None, aliyun=None, **behaviour)`` -> (config, server)."""

    def make(voice=True, profile=None, aliyun=None, **behaviour):
        server = aliyun_server(**behaviour)
        return aliyun_config(server, local_ca, voice, profile, **(aliyun or {})), server

    return make


# --- DingTalk: a loopback HTTPS server that behaves like oapi.dingtalk.com ---------------

from testkit.dingtalk_server import DingTalkBehaviour, FakeRobot, LocalDingTalkServer  # noqa: E402,E501

DINGTALK_TOKEN = "9f3c2a7be1d04c58a6b2e0f4d7c91a3e5b8f6d2c4a1e7b9d0c3f5a8e2b6d4f10"  # made up
DINGTALK_SECRET = "SEC4f1a9c7e2b5d8f0a3c6e9b2d5f8a1c4e7b0d3f6a9c2e5b8d1f4a7c0e3b6d9f2"  # made up


@pytest.fixture
def dingtalk_server(local_ca):
    """Start loopback DingTalk servers (child processes):
    ``dingtalk_server([FakeRobot(...)], **DingTalkBehaviour fields)``."""
    with contextlib.ExitStack() as running:  # every server started is stopped

        def start(robots=(), **behaviour):
            server = LocalDingTalkServer(local_ca.server_pem, list(robots),
                                         DingTalkBehaviour(**behaviour))
            return running.enter_context(server)

        yield start


def dingtalk_config(server, local_ca, *robots, **settings):
    """A pack config whose dingtalk_robots point at a loopback server; retries are fast."""
    config = {
        "dingtalk_robots": list(robots),
        "dingtalk_allowed_hosts": [server.host],
        "dingtalk_ca_bundle": local_ca.ca_file,
        "dingtalk_retry_seconds": 1,
        "dingtalk_retry_backoff": 0.01,
        "dingtalk_timeout": 2,
    }
    config.update(settings)
    return config


def dingtalk_robot(server, name="soc-oncall", token=DINGTALK_TOKEN, **fields):
    """A dingtalk_robots entry for a robot on a loopback server."""
    return dict({"name": name, "webhook": server.webhook(token)}, **fields)


@pytest.fixture
def signed_robot(dingtalk_server, local_ca):
    """(pack config, server) with one signed robot, soc-oncall, marked default."""
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET)])
    config = dingtalk_config(server, local_ca,
                             dingtalk_robot(server, secret=DINGTALK_SECRET, default=True))
    return config, server
