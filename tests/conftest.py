"""Shared fixtures: the pack's import paths, the st2 stand-in, and loopback servers.

Every loopback server is a child process (testkit/child.py), so starting one costs a Python
start.  The fixtures therefore hand out servers from a pool that lives for the session: a
server is started the first time a test needs one of its kind, and every later test gets it
back reset (``reset()``: nothing received, the gateway's and DingTalk's own memory gone) and
configured as that test asked.  Helpers that are not fixtures live in helpers.py."""

import collections
import dataclasses
import json
import os
import sys

import pytest
from hypothesis import settings as hypothesis_settings

# generated examples are the same on every run: a CI run cannot fail on an example that the
# run before it never tried (found ones are then kept as corpus tests)
hypothesis_settings.register_profile("notify_message", derandomize=True)
hypothesis_settings.load_profile("notify_message")

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (os.path.join(PACK_DIR, "actions", "lib"), os.path.join(PACK_DIR, "actions"), PACK_DIR):
    if path not in sys.path:
        sys.path.insert(0, path)

try:  # the real StackStorm, under st2-run-pack-tests / st2check --pytest
    import st2common.runners.base_action  # noqa: F401
    import st2tests.base  # noqa: F401
except ImportError:  # plain pytest: the declared stand-in
    sys.path.insert(0, os.path.join(PACK_DIR, "tests", "st2_standin"))

from helpers import (  # noqa: E402,F401 - re-exported for modules that import them from here
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    SHOW_NUMBER,
    SIGN_NAME,
    SMS_TEMPLATE,
    SMTP_CODE,
    SMTP_LOGIN,
    TTS_TEMPLATE,
    aliyun_config,
    dingtalk_config,
    dingtalk_robot,
    smtp_instance,
)

from testkit.aliyun_server import AliyunBehaviour, LocalAliyunServer  # noqa: E402
from testkit.dingtalk_server import (  # noqa: E402,F401 - FakeRobot re-exported
    DingTalkBehaviour,
    FakeRobot,
    LocalDingTalkServer,
)
from testkit.smtp_server import LocalSmtpServer, SmtpBehaviour  # noqa: E402
from testkit.st2_api import LocalSt2Api  # noqa: E402
from testkit.tls import make_local_ca  # noqa: E402


class ServerPool:
    """Running loopback servers by kind, each lent to one test at a time.  ``lend(kind,
    make, remake)`` gives an idle server of that kind after ``remake(server)`` (a reset to
    what the test asks for), or enters ``make()`` when every server of the kind is lent out
    (the first test, or a test using two at once); ``give_back()`` returns what a test
    borrowed."""

    def __init__(self):
        self._idle = collections.defaultdict(list)
        self._lent = []
        self._running = []
        self.started = collections.Counter()   # kind -> how many were started

    def lend(self, kind, make, remake=lambda server: server.reset()):
        server = None
        idle = self._idle[kind]
        while idle and server is None:
            server = idle.pop()
            try:
                remake(server)
            except (RuntimeError, TimeoutError):  # the child died or hangs: start another
                self._running.remove(server)
                server.__exit__(None, None, None)
                server = None
        if server is None:
            server = make()
            server.__enter__()
            self._running.append(server)
            self.started[kind] += 1
        self._lent.append((kind, server))
        return server

    def give_back(self):
        for kind, server in self._lent:
            self._idle[kind].append(server)
        self._lent = []

    def close(self):
        for server in self._running:
            server.__exit__(None, None, None)
        self._running = []


@pytest.fixture(scope="session")
def local_ca():
    ca = make_local_ca()
    yield ca
    ca.cleanup()


@pytest.fixture(scope="session")
def server_pool():
    pool = ServerPool()
    yield pool
    pool.close()


@pytest.fixture
def servers(server_pool):
    """The pool, for one test: what the test borrowed goes back when it ends."""
    yield server_pool
    server_pool.give_back()


# --- email ------------------------------------------------------------------------------

@pytest.fixture
def smtp_server(servers, local_ca):
    """Loopback SMTP servers: ``smtp_server(**SmtpBehaviour fields)``; implicit TLS and AUTH
    with SMTP_LOGIN / SMTP_CODE unless told otherwise.  The SMTP child takes its behaviour on
    its command line, so there is one pooled kind per behaviour."""

    def start(tls=True, **behaviour):
        behaviour.setdefault("accounts", {SMTP_LOGIN: SMTP_CODE})
        made = SmtpBehaviour(**behaviour)
        kind = ("smtp", tls, json.dumps(dataclasses.asdict(made), sort_keys=True))
        return servers.lend(kind, lambda: LocalSmtpServer(local_ca.server_pem if tls else None,
                                                          made))

    return start


@pytest.fixture
def smtp_config(smtp_server, local_ca):
    """``smtp_config(**behaviour)`` -> (pack config, server) with one instance."""

    def make(instance_overrides=None, **behaviour):
        server = smtp_server(**behaviour)
        instance = smtp_instance(server, local_ca, **(instance_overrides or {}))
        return {"smtp_instances": [instance]}, server

    return make


# --- Alibaba Cloud SMS and voice ----------------------------------------------------------

@pytest.fixture(scope="session")
def aliyun_server_pem(local_ca):
    """Key and certificate chain for the loopback gateway, issued by the local CA."""
    return local_ca.server_pem


@pytest.fixture
def aliyun_server(servers, aliyun_server_pem):
    """Loopback Alibaba Cloud gateways: ``aliyun_server(**AliyunBehaviour fields)``; HTTPS
    with the local CA and the ALIYUN_KEY_ID / ALIYUN_SECRET account.  The gateway reloads its
    behaviour before each request, so one pooled kind serves every behaviour: the server is
    reset as if made with this test's."""

    def start(tls=True, **behaviour):
        behaviour.setdefault("accounts", {ALIYUN_KEY_ID: ALIYUN_SECRET})
        made = AliyunBehaviour(**behaviour)
        return servers.lend(("aliyun", tls),
                            lambda: LocalAliyunServer(made, aliyun_server_pem if tls else None),
                            lambda server: server.reset_as(made))

    return start


@pytest.fixture
def sms_config(aliyun_server, local_ca):
    """``sms_config(voice=True, profile=None, aliyun=None, **behaviour)`` -> (config, server)."""

    def make(voice=True, profile=None, aliyun=None, **behaviour):
        server = aliyun_server(**behaviour)
        return aliyun_config(server, local_ca, voice, profile, **(aliyun or {})), server

    return make


# --- DingTalk: a loopback HTTPS server that behaves like oapi.dingtalk.com ---------------

@pytest.fixture
def dingtalk_server(servers, local_ca):
    """Loopback DingTalk servers: ``dingtalk_server([FakeRobot(...)], **DingTalkBehaviour
    fields)``.  Like the gateway it reloads robots and behaviour before each request: one
    pooled kind, reset as if made with this test's robots and behaviour."""

    def start(robots=(), **behaviour):
        robots, made = list(robots), DingTalkBehaviour(**behaviour)
        return servers.lend("dingtalk",
                            lambda: LocalDingTalkServer(local_ca.server_pem, robots, made),
                            lambda server: server.reset_as(robots, made))

    return start


@pytest.fixture
def signed_robot(dingtalk_server, local_ca):
    """(pack config, server) with one signed robot, soc-oncall, marked default."""
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET)])
    config = dingtalk_config(server, local_ca,
                             dingtalk_robot(server, secret=DINGTALK_SECRET, default=True))
    return config, server


# --- st2's API, for trigger dispatch ---------------------------------------------------------

@pytest.fixture
def st2_api(servers):
    """``st2_api(token)``: a loopback st2 API accepting that token, nothing dispatched yet."""

    def start(token):
        return servers.lend(("st2_api", token), lambda: LocalSt2Api(token=token))

    return start


# --- storm control: the state store's backends (a real redis-server, never a fake) -------

REDIS_PASSWORD = "redis-pw-7Hq2"


@pytest.fixture(scope="session")
def redis_servers(local_ca):
    """A plain (password) and a TLS-only redis-server, started on first use, for the session."""
    from testkit.redis_server import LocalRedisServer

    started = {}

    def get(kind):
        if kind not in started:
            tls = {"tls_pem": local_ca.server_pem, "ca_file": local_ca.ca_file} \
                if kind == "redis-tls" else {}
            started[kind] = LocalRedisServer(password=REDIS_PASSWORD, **tls).start()
        return started[kind]

    yield get
    for server in started.values():
        server.stop()


@pytest.fixture(params=["sqlite", "redis", "redis-tls"])
def state_section(request, tmp_path, redis_servers, local_ca):
    """``storm_control.state`` for each backend, on an empty store."""
    if request.param == "sqlite":
        return {"backend": "sqlite", "path": str(tmp_path / "state" / "storm.sqlite3")}
    server = redis_servers(request.param)
    server.flush()
    section = {"backend": "redis", "url": server.url}
    if request.param == "redis-tls":
        section["ca_bundle"] = local_ca.ca_file
    return section
