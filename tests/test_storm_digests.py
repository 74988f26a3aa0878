"""Digests on every backend: what storm control queued goes out as one summary per target,
each alert in exactly one digest, never lost by a flusher killed (SIGKILL) mid-send; the
digest sensor flushes on its own and stays idle without storm_control."""

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import PACK_DIR, FakeRobot, dingtalk_config, dingtalk_robot
from test_storm_control import ROBOTS, alert, outcomes

from notify_message import PackConfig, notify_by_custom
from notify_message.result import Outcome
from notify_message.state.digest import flush_digests, summarise
from notify_message.state.settings import open_store
from notify_message.state.store import QueuedItem

LIB = os.path.join(PACK_DIR, "actions", "lib")


@pytest.fixture
def storm(dingtalk_server, local_ca, state_section):
    def make(**section):
        server = dingtalk_server([FakeRobot(t) for t in ROBOTS])
        config = dingtalk_config(server, local_ca,
                                 dingtalk_robot(server, "soc-oncall", ROBOTS[0], default=True),
                                 dingtalk_robot(server, "soc-backup", ROBOTS[1]))
        section.setdefault("state", state_section)
        section.setdefault("dingtalk", {"per_minute": 4, "digest_reserve": 2})
        config["storm_control"] = section
        return config, server

    return make


def queue_alerts(config, texts):
    results = [notify_by_custom(alert(text), config) for text in texts]
    return [r.deliveries[0].outcome for r in results]


def digests(server):
    return [m for m in server.received if m.body["msgtype"] == "markdown"]


def test_queued_alerts_go_out_as_one_digest_with_each_title_once_and_its_count(storm):
    config, server = storm()
    got = queue_alerts(config, ["a1", "a2", "disk full", "disk full", "cpu high", "disk full"])
    assert got == [Outcome.DELIVERED] * 2 + [Outcome.QUEUED] * 4
    reports = flush_digests(PackConfig.from_mapping(config))
    assert [(r.queue, r.alerts, r.delivery.outcome) for r in reports] == [
        ("dingtalk/soc-oncall", 4, Outcome.DELIVERED)]
    [digest] = digests(server)
    text = digest.payload["text"]
    assert digest.payload["title"].startswith("4 alerts for soc-oncall, ")
    assert "- 3x disk full" in text and "- cpu high" in text and text.count("disk full") == 1
    assert flush_digests(PackConfig.from_mapping(config)) == []   # nothing left to send


def test_a_target_gets_at_most_one_digest_per_group_interval(storm):
    # long enough that a loaded machine's two flushes (TLS to Redis) fit inside one interval
    config, server = storm(digest={"group_interval": 2.5})
    queue_alerts(config, ["a", "b", "c"])
    flush_digests(PackConfig.from_mapping(config))
    queue_alerts(config, ["d"])
    [report] = flush_digests(PackConfig.from_mapping(config))
    assert report.delivery is None and "next digest may go at" in report.waiting
    time.sleep(2.55)
    [report] = flush_digests(PackConfig.from_mapping(config))
    assert report.delivery.ok and len(digests(server)) == 2


def test_a_digest_waits_for_the_robot_s_budget_and_keeps_its_alerts(storm):
    config, server = storm(dingtalk={"per_minute": 2, "digest_reserve": 0})
    queue_alerts(config, ["a", "b", "c"])
    [report] = flush_digests(PackConfig.from_mapping(config))
    assert report.delivery is None and report.waiting == "the target's budget is spent"
    assert report.alerts == 1 and digests(server) == []


def test_a_digest_refused_with_130101_stays_queued_and_throttles_the_robot(storm):
    config, server = storm()
    queue_alerts(config, ["a", "b", "c"])
    server.script(ROBOTS[0], 130101)
    [report] = flush_digests(PackConfig.from_mapping(config))
    assert report.delivery.code == "130101"
    [report] = flush_digests(PackConfig.from_mapping(config))
    assert "throttled until" in report.waiting
    assert outcomes(notify_by_custom(alert("d"), config)) == [Outcome.QUEUED]


def test_a_long_digest_is_cut_with_and_n_more():
    items = [QueuedItem(str(n), json.dumps({"title": f"alert number {n:04d}"}), 1.0e9 + n)
             for n in range(300)]
    summary = summarise(items, "soc", limit=2000, markdown=True)
    assert len(summary.text) <= 2000 and summary.alerts == 300
    assert summary.text.endswith(f"and {300 - summary.shown} more")
    assert 0 < summary.shown < 300


def test_email_digests_go_one_per_recipient(smtp_config, state_section):
    config, server = smtp_config()
    config["storm_control"] = {"state": state_section, "email": {"per_minute": 1}}
    params = {"email": 1, "receivers": "a@163.com", "emailcontext": "web-01 down",
              "emailTitle": "web-01 down"}
    assert [notify_by_custom(params, config).deliveries[0].outcome for _ in range(3)] == [
        Outcome.DELIVERED, Outcome.QUEUED, Outcome.QUEUED]
    time.sleep(0.05)
    reports = flush_digests(PackConfig.from_mapping(config))
    assert reports[0].delivery is None   # a minute's budget: the digest waits for it
    store = open_store(PackConfig.from_mapping(config).storm_control.state)
    assert store.pending("email/soc-163/a@163.com") == 2
    store.close()


def _flusher(config):
    process = subprocess.Popen([sys.executable, "-m", "notify_message.state.flusher", "--once"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONPATH=LIB))
    process.stdin.write(json.dumps(config))
    process.stdin.close()
    return process


def test_a_flusher_killed_mid_send_loses_nothing_and_each_alert_is_in_one_digest(storm):
    config, server = storm(digest={"lease_seconds": 1.5})
    texts = [f"alert-{n:02d}" for n in range(8)]
    assert queue_alerts(config, texts).count(Outcome.QUEUED) == 6
    server.script(ROBOTS[0], ("sleep", 10))   # the digest's request hangs at DingTalk
    before = server.requests
    flusher = _flusher(config)
    deadline = time.monotonic() + 15
    while server.requests == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.requests == before + 1, "the flusher never reached DingTalk"
    flusher.send_signal(signal.SIGKILL)   # killed with the digest on the wire
    flusher.wait(5)
    assert flush_digests(PackConfig.from_mapping(config))[0].waiting == "no alert is due yet"
    time.sleep(1.6)   # the dead flusher's lease ends
    [report] = flush_digests(PackConfig.from_mapping(config))
    assert report.delivery.ok and report.alerts == 6
    sent = [m.payload.get("text") or m.payload.get("content") for m in server.received]
    for text in texts:
        assert sum(text in body for body in sent) == 1, text


def test_two_flushers_at_once_send_each_alert_in_exactly_one_digest(storm):
    config, server = storm()
    server.update(latency=0.3)
    queue_alerts(config, [f"alert-{n:02d}" for n in range(6)])
    flushers = [_flusher(config) for _ in range(2)]
    for flusher in flushers:
        flusher.stdout.read()
        assert flusher.wait(30) == 0
    [digest] = digests(server)
    for n in range(2, 6):
        assert digest.payload["text"].count(f"alert-{n:02d}") == 1


class _Service:
    def get_logger(self, name):
        return logging.getLogger(name)


def _sensor_class():
    path = os.path.join(PACK_DIR, "sensors", "digest_flush_sensor.py")
    spec = importlib.util.spec_from_file_location("digest_flush_sensor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DigestFlushSensor


def test_the_digest_sensor_flushes_due_digests_in_a_process_of_its_own(storm):
    config, server = storm(digest={"group_interval": 0.5, "flush_interval": 0.2})
    queue_alerts(config, ["a", "b", "c", "d"])
    sensor = _sensor_class()(_Service(), config)
    sensor.setup()
    runner = threading.Thread(target=sensor.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while len(digests(server)) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(digests(server)) == 1   # a, b went out directly; c, d in one digest
        assert queue_alerts(config, ["echo-5", "foxtrot-6"]) == [Outcome.QUEUED] * 2
        while len(digests(server)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)   # the group interval ends: the flusher sends without a look
        text = digests(server)[1].payload["text"]
        assert "echo-5" in text and "foxtrot-6" in text
        assert sensor.flushers == 1        # one flusher served both digests
    finally:
        sensor.cleanup()
        runner.join(10)
    assert not runner.is_alive() and sensor.flusher.poll() is not None


def test_the_digest_sensor_starts_no_flusher_while_nothing_is_queued(storm):
    config, server = storm()
    sensor = _sensor_class()(_Service(), config)
    sensor.setup()
    assert sensor.flush_if_due() is None and sensor.flushers == 0
    sensor.cleanup()


def test_the_digest_sensor_is_idle_without_storm_control_and_loads_none_of_it():
    code = """
import importlib.util, json, logging, sys, threading
sys.path[:0] = %r
spec = importlib.util.spec_from_file_location("s", %r)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
class Service:
    def get_logger(self, name):
        return logging.getLogger(name)
sensor = module.DigestFlushSensor(Service(), {"storm_control": {"state": {}, "dedup": {}}})
sensor.setup()
runner = threading.Thread(target=sensor.run)
runner.start()
sensor.cleanup()
runner.join(5)
print(json.dumps([not runner.is_alive(), sorted(m for m in sys.modules if ".state" in m)]))
""" % ([LIB, os.path.join(PACK_DIR, "tests", "st2_standin")],
       os.path.join(PACK_DIR, "sensors", "digest_flush_sensor.py"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    stopped, loaded = json.loads(out.strip().splitlines()[-1])
    assert stopped and loaded == []
