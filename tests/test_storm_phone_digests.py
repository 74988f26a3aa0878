"""SMS and voice outside quiet hours: queued to the window's opening on every backend, a
critical alert sent at once, and (on SQLite, whose clock the test moves) one summary per
number through the call's profile when the window opens, within the template limits."""

import json
import time as real_time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import SMS_TEMPLATE, TTS_TEMPLATE

from notify_message import PackConfig, notify_by_custom
from notify_message.result import Outcome
from notify_message.state.digest import flush_digests, summarise_line
from notify_message.state.store import QueuedItem

NUMBERS = "13800138000,13900139000"


def _window_in(minutes):
    start = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    end = start + timedelta(hours=1)
    return {"from": start.strftime("%H:%M"), "to": end.strftime("%H:%M"), "timezone": "UTC"}


def _config(sms_config, state_section, minutes=120):
    config, server = sms_config()
    config["storm_control"] = {"state": state_section, "quiet_hours": [
        {"name": "phones-daytime", "channels": ["sms", "voice"], "allow": _window_in(minutes),
         "unless_severity": ["critical"]}]}
    return config, server


def test_sms_and_voice_outside_the_window_are_queued_until_it_opens(sms_config, state_section):
    config, server = _config(sms_config, state_section)
    params = {"telephone": NUMBERS, "smscontext": "web-01 down", "sms": 1,
              "telephonecontext": "web-01 down", "severity": "high"}
    result = notify_by_custom(params, config)
    assert result.status
    assert [(d.channel.value, d.outcome) for d in result.deliveries] == [
        ("sms", Outcome.QUEUED)] * 2 + [("voice", Outcome.QUEUED)] * 2
    assert result.deliveries[0].reference == "sms/oncall/13800138000"
    assert "quiet hours rule phones-daytime: sms only" in result.deliveries[0].detail
    assert "deferred to " in result.deliveries[0].detail
    assert server.received == []
    reports = flush_digests(PackConfig.from_mapping(config))
    assert {r.waiting for r in reports} == {"no alert is due yet"} and len(reports) == 4
    assert server.received == []


def test_a_critical_alert_goes_out_at_once_even_with_a_digest_waiting(
        sms_config, state_section):
    config, server = _config(sms_config, state_section)
    params = {"telephone": "13800138000", "smscontext": "web-01 down", "sms": 1}
    assert notify_by_custom(params, config).deliveries[0].outcome is Outcome.QUEUED
    critical = notify_by_custom(dict(params, severity="critical"), config)
    assert [d.outcome for d in critical.deliveries] == [Outcome.DELIVERED]
    assert [c.action for c in server.received] == ["SendSms"]


def test_when_the_window_opens_each_number_gets_one_summary(sms_config, state_section,
                                                            monkeypatch):
    if state_section["backend"] != "sqlite":
        pytest.skip("the test moves the store's clock, which only SQLite's is (Redis: TIME)")
    config, server = _config(sms_config, state_section, minutes=2)
    texts = ["web-01 down", "web-01 down", "disk full on db-02", "web-01 down"]
    for n, text in enumerate(texts):
        params = {"telephone": NUMBERS, "smscontext": text, "sms": 1,
                  "telephonecontext": text}
        result = notify_by_custom(params, config)
        assert {d.outcome for d in result.deliveries} == {Outcome.QUEUED}, n
    from notify_message.state import sqlite

    class Later:   # the store's clock, three minutes on: the window has opened
        @staticmethod
        def time():
            return real_time.time() + 180

    monkeypatch.setattr(sqlite, "time", Later)
    reports = flush_digests(PackConfig.from_mapping(config))
    assert sorted((r.queue, r.alerts, r.delivery.outcome) for r in reports) == [
        (f"{c}/oncall/{n}", 4, Outcome.DELIVERED) for c in ("sms", "voice")
        for n in NUMBERS.split(",")]
    sms = [c for c in server.received if c.action == "SendSms"]
    calls = [c for c in server.received if c.action == "SingleCallByTts"]
    assert sorted(c.params["PhoneNumbers"] for c in sms) == NUMBERS.split(",")
    assert sorted(c.params["CalledNumber"] for c in calls) == NUMBERS.split(",")
    for c in sms:
        assert c.params["TemplateCode"] == SMS_TEMPLATE
        text = json.loads(c.params["TemplateParam"])["content"]
        assert text.startswith("4 alerts, ") and "3x web-01 down;" in text
        assert text.count("web-01 down") == 1 and "disk full on db-02" in text
    for c in calls:
        assert c.params["TtsCode"] == TTS_TEMPLATE and len(c.params["TtsParam"]) < 250
    assert flush_digests(PackConfig.from_mapping(config)) == []   # each alert sent once


@pytest.mark.parametrize("limit", [35, 120, 249])
def test_a_phone_summary_stays_within_its_limit_with_and_n_more(limit):
    items = [QueuedItem(str(n), json.dumps({"text": f"alert 告警 number {n:03d}"}), 1.0e9 + n)
             for n in range(60)]
    line = summarise_line(items, limit=limit)
    assert len(line) <= limit
    if limit > 80:
        assert line.startswith("60 alerts, ") and " more" in line
        shown = line.count("alert 告警 number")
        assert line.endswith(f"and {60 - shown} more")
