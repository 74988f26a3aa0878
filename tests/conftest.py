"""Shared fixtures: the pack's import paths, the st2 stand-in, and loopback servers."""

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
    started = []

    def start(tls=True, **behaviour):
        behaviour.setdefault("accounts", {SMTP_LOGIN: SMTP_CODE})
        server = LocalSmtpServer(local_ca.server_pem if tls else None, SmtpBehaviour(**behaviour))
        server.__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


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
