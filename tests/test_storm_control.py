"""Storm control through notifyByCustom, on every backend (``state_section``): dedup,
shared budgets, throttled robots and their fallbacks, digests queued, quiet hours,
silences, the idempotencyKey ledger, and a store that is down.  Real loopback DingTalk and
SMTP servers; the DingTalk server throttles as DingTalk does."""

import pytest
from conftest import FakeRobot, dingtalk_config, dingtalk_robot, smtp_instance

from notify_message import notify_by_custom
from notify_message.result import Outcome

ROBOTS = ("tok-oncall", "tok-backup")


@pytest.fixture
def storm(dingtalk_server, local_ca, state_section):
    """``storm(**storm_control)`` -> (config, server): robots soc-oncall (default) and
    soc-backup on a throttling loopback DingTalk, storm control on the test's backend."""

    def make(**section):
        server = dingtalk_server([FakeRobot(t) for t in ROBOTS])
        config = dingtalk_config(
            server, local_ca,
            dingtalk_robot(server, "soc-oncall", ROBOTS[0], default=True),
            dingtalk_robot(server, "soc-backup", ROBOTS[1]))
        section.setdefault("state", state_section)
        config["storm_control"] = section
        return config, server

    return make


def alert(text="web-01: brute force from 203.0.113.7", **params):
    return dict({"dingding": 1, "dingdingcontext": text}, **params)


def outcomes(result):
    return [d.outcome for d in result.deliveries]


def test_a_repeat_within_the_dedup_window_is_suppressed_and_names_the_first_execution(
        storm, monkeypatch):
    config, server = storm()
    monkeypatch.setenv("ST2_ACTION_EXECUTION_ID", "65a1f0c2e4b0d1a2b3c4d5e6")
    first = notify_by_custom(alert(dedupKey="alert-42"), config)
    monkeypatch.setenv("ST2_ACTION_EXECUTION_ID", "65a1f0c2e4b0d1a2b3c4d5e7")
    second = notify_by_custom(alert(dedupKey="alert-42"), config)
    assert outcomes(first) == [Outcome.DELIVERED]
    assert second.status and outcomes(second) == [Outcome.SUPPRESSED]
    delivery = second.deliveries[0]
    assert "duplicate of execution 65a1f0c2e4b0d1a2b3c4d5e6 at " in delivery.detail
    assert delivery.reference == "65a1f0c2e4b0d1a2b3c4d5e6"
    assert len(server.received) == 1
    assert second.to_dict()["storm_control"]["execution"] == "65a1f0c2e4b0d1a2b3c4d5e7"


def test_another_dedup_key_or_another_target_is_not_a_duplicate(storm):
    config, server = storm()
    notify_by_custom(alert(dedupKey="alert-1"), config)
    assert outcomes(notify_by_custom(alert(dedupKey="alert-2"), config)) == [Outcome.DELIVERED]
    both = notify_by_custom(alert(dedupKey="alert-1", dingding="soc-oncall,soc-backup"), config)
    assert outcomes(both) == [Outcome.SUPPRESSED, Outcome.DELIVERED]
    assert len(server.received) == 3


def test_a_failed_delivery_gives_its_dedup_claim_back_so_a_retry_is_sent(storm):
    config, server = storm()
    server.script(ROBOTS[0], 300005)   # the robot was removed, for this one request
    assert outcomes(notify_by_custom(alert(dedupKey="a-9"), config)) == [Outcome.FAILED]
    assert outcomes(notify_by_custom(alert(dedupKey="a-9"), config)) == [Outcome.DELIVERED]


def test_content_hash_dedups_calls_without_a_dedup_key(storm):
    config, server = storm(dedup={"content_hash": True})
    notify_by_custom(alert("same text"), config)
    assert outcomes(notify_by_custom(alert("same text"), config)) == [Outcome.SUPPRESSED]
    assert outcomes(notify_by_custom(alert("other text"), config)) == [Outcome.DELIVERED]


def test_a_robot_out_of_budget_queues_for_its_digest_and_never_meets_130101(storm):
    config, server = storm(dingtalk={"per_minute": 5, "digest_reserve": 1})
    results = [notify_by_custom(alert(f"alert {n}"), config) for n in range(7)]
    assert [outcomes(r)[0] for r in results] == [Outcome.DELIVERED] * 4 + [Outcome.QUEUED] * 3
    assert all(r.status for r in results)
    queued = results[4].deliveries[0]
    assert queued.reference == "dingtalk/soc-oncall"
    assert "queued for digest dingtalk/soc-oncall" in queued.detail
    assert "rate budget of soc-oncall (4 per 62s)" in queued.detail
    assert "already waiting" in results[5].deliveries[0].detail
    assert len(server.received) == 4   # nothing past the budget reached DingTalk


def test_a_robot_that_answers_130101_is_remembered_and_later_calls_use_its_fallback(storm):
    config, server = storm(dingtalk={"fallback": {"soc-oncall": ["soc-backup"]}})
    server.script(ROBOTS[0], 130101)   # throttled by traffic storm control never saw
    first = notify_by_custom(alert("first"), config)
    assert outcomes(first) == [Outcome.QUEUED] and first.status
    assert "errcode 130101" in first.deliveries[0].detail
    assert first.deliveries[0].attempts == 0
    second = notify_by_custom(alert("second"), config)
    delivery = second.deliveries[0]
    assert delivery.outcome is Outcome.DELIVERED and delivery.target == "soc-oncall"
    assert "sent through fallback robot soc-backup" in delivery.detail
    assert [m.token for m in server.received] == [ROBOTS[1]]


def test_a_throttled_robot_without_fallback_is_answered_at_once_without_posting(storm):
    import time

    config, server = storm()
    server.script(ROBOTS[0], 130101)
    notify_by_custom(alert("first"), config)
    requests = server.requests
    started = time.monotonic()
    later = notify_by_custom(alert("second"), config)
    assert time.monotonic() - started < 1.0
    assert outcomes(later) == [Outcome.QUEUED] and "throttled by DingTalk until" in \
        later.deliveries[0].detail
    assert server.requests == requests


def test_sms_over_its_daily_budget_is_suppressed_naming_the_budget(sms_config, state_section):
    config, server = sms_config()
    config["storm_control"] = {"state": state_section, "sms": {"per_day": 2}}
    params = {"sms": 1, "telephone": "13800138000", "smscontext": "web-01 down"}
    results = [notify_by_custom(params, config) for _ in range(3)]
    assert [r.deliveries[0].outcome for r in results] == [Outcome.DELIVERED] * 2 + [
        Outcome.SUPPRESSED]
    assert "2 per 86400s" in results[2].deliveries[0].detail
    assert "provider would refuse" in results[2].deliveries[0].detail


def test_email_over_its_instance_budget_is_queued_per_recipient(smtp_config, state_section):
    config, server = smtp_config()
    config["storm_control"] = {"state": state_section, "email": {"per_minute": 1}}
    params = {"email": 1, "receivers": "a@163.com,b@163.com", "emailcontext": "web-01 down"}
    result = notify_by_custom(params, config)
    assert outcomes(result) == [Outcome.DELIVERED, Outcome.QUEUED]
    assert result.deliveries[1].reference == "email/soc-163/b@163.com"
    assert len(server.received) == 1


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_store_that_is_down_delivers_everything_without_storm_control_and_says_so(
        backend, storm, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    state = ({"path": str(blocker / "state.sqlite3")} if backend == "sqlite" else
             {"backend": "redis", "url": "redis://127.0.0.1:1/0", "timeout": 0.5})
    config, server = storm(state=state, dedup={"content_hash": True})
    results = [notify_by_custom(alert(dedupKey="same"), config) for _ in range(2)]
    assert all(outcomes(r) == [Outcome.DELIVERED] and r.status for r in results)
    summary = results[0].to_dict()["storm_control"]
    assert summary["active"] is False
    assert summary["note"].startswith("off for this call, delivered without it")
    assert len(server.received) == 2


def test_without_storm_control_the_result_has_no_storm_control_field(storm, dingtalk_server,
                                                                     local_ca):
    server = dingtalk_server([FakeRobot(ROBOTS[0])])
    config = dingtalk_config(server, local_ca, dingtalk_robot(server, "soc-oncall", ROBOTS[0]))
    config["storm_control"] = {"state": {}, "dedup": {}, "dingtalk": {}}   # as st2 builds it
    result = notify_by_custom(alert(dedupKey="k"), config)
    assert result.status and "storm_control" not in result.to_dict()


@pytest.mark.parametrize("params, problem", [
    ({"severity": "urgent"}, "parameter 'severity': expected one of info, low, medium, high"),
    ({"dedupKey": "a\nb"}, "parameter 'dedupKey': expected at most 256 printable"),
    ({"idempotencyKey": "x" * 257}, "parameter 'idempotencyKey': expected at most 256"),
    ({"dedupKey": {"a": 1}}, "parameter 'dedupKey': expected a string, got dict"),
])
def test_bad_storm_parameters_are_refused_naming_them(params, problem, storm):
    config, server = storm()
    result = notify_by_custom(alert(**params), config)
    assert not result.status and problem in result.error
    assert server.received == []


def test_an_email_call_with_storm_control_keeps_its_smtp_instance(smtp_config, state_section,
                                                                  local_ca):
    config, server = smtp_config()
    config["smtp_instances"].append(smtp_instance(server, local_ca, assetname="soc-2"))
    config["storm_control"] = {"state": state_section}
    params = {"email": "soc-2", "receivers": "a@163.com", "emailcontext": "x"}
    assert notify_by_custom(params, config).status


# --- quiet hours and severity ------------------------------------------------------------

def _window(hours_from_now, hours_long=1):
    from datetime import datetime, timedelta, timezone

    start = datetime.now(timezone.utc) + timedelta(hours=hours_from_now)
    end = start + timedelta(hours=hours_long)
    return {"from": start.strftime("%H:%M"), "to": end.strftime("%H:%M"), "timezone": "UTC"}


def test_outside_quiet_hours_dingtalk_is_deferred_to_the_window_s_start(storm):
    config, server = storm(quiet_hours=[{"name": "office", "channels": ["dingtalk"],
                                         "allow": _window(2), "unless_severity": ["critical"]}])
    result = notify_by_custom(alert(severity="high"), config)
    delivery = result.deliveries[0]
    assert result.status and delivery.outcome is Outcome.QUEUED
    assert "quiet hours rule office: dingtalk only" in delivery.detail
    assert "deferred to " in delivery.detail
    assert server.received == []
    from notify_message import PackConfig
    from notify_message.state.digest import flush_digests
    [report] = flush_digests(PackConfig.from_mapping(config))
    assert report.waiting == "no alert is due yet"   # not before the window opens


def test_a_critical_alert_passes_quiet_hours_that_let_critical_through(storm):
    config, server = storm(quiet_hours=[{"channels": ["dingtalk"], "allow": _window(2),
                                         "unless_severity": ["critical"]}])
    assert outcomes(notify_by_custom(alert(severity="critical"), config)) == [Outcome.DELIVERED]


def test_quiet_hours_that_suppress_say_which_rule(sms_config, state_section):
    config, server = sms_config()
    config["storm_control"] = {"state": state_section, "quiet_hours": [
        {"channels": ["sms", "voice"], "allow": _window(3), "outside": "suppress"}]}
    params = {"sms": 1, "telephone": "13800138000", "smscontext": "web-01 down"}
    delivery = notify_by_custom(params, config).deliveries[0]
    assert delivery.outcome is Outcome.SUPPRESSED
    assert "quiet hours rule storm_control.quiet_hours[0]: sms only" in delivery.detail


def test_inside_the_quiet_hours_window_everything_goes(storm):
    config, server = storm(quiet_hours=[{"allow": _window(-0.5, 2)}])
    assert outcomes(notify_by_custom(alert(), config)) == [Outcome.DELIVERED]


# --- silences ------------------------------------------------------------------------------

def test_a_silence_suppresses_what_it_matches_until_it_is_expired(storm):
    from notify_message.state.commands import create_silence, expire_silence, list_silences

    config, server = storm()
    made = create_silence({"key": "ALERT-42", "duration": "2h", "comment": "known issue"},
                          config)
    assert made.status, made.message
    silence_id = made.data["silence"]["id"]
    silenced = notify_by_custom(alert(dedupKey="ALERT-42"), config)
    assert silenced.status and outcomes(silenced) == [Outcome.SUPPRESSED]
    assert silenced.deliveries[0].reference == silence_id
    assert f"silenced by {silence_id} until " in silenced.deliveries[0].detail
    assert "(known issue)" in silenced.deliveries[0].detail
    assert outcomes(notify_by_custom(alert(dedupKey="ALERT-43"), config)) == [
        Outcome.DELIVERED]
    listed = list_silences({}, config)
    assert listed.data["count"] == 1 and listed.data["silences"][0]["key"] == "ALERT-42"
    assert expire_silence({"id": silence_id}, config).status
    assert not expire_silence({"id": silence_id}, config).status
    assert outcomes(notify_by_custom(alert(dedupKey="ALERT-42"), config)) == [
        Outcome.DELIVERED]


def test_a_silence_on_channel_target_and_text_matches_only_all_of_them(storm):
    from notify_message.state.commands import create_silence

    config, server = storm()
    assert create_silence({"channel": "dingtalk", "target": "soc-backup", "text": "DISK",
                           "duration": 600}, config).status
    both = notify_by_custom(alert("disk full on web-01", dingding="soc-oncall,soc-backup"),
                            config)
    assert outcomes(both) == [Outcome.DELIVERED, Outcome.SUPPRESSED]
    other = notify_by_custom(alert("cpu high", dingding="soc-backup"), config)
    assert outcomes(other) == [Outcome.DELIVERED]


@pytest.mark.parametrize("params, problem", [
    ({"duration": "2h"}, "parameter 'matchers': give at least one of channel"),
    ({"key": "k"}, "parameter 'duration': give duration (2h) or until"),
    ({"key": "k", "duration": "soon"}, "parameter 'duration': expected seconds or a number"),
    ({"key": "k", "until": "2020-01-01T00:00:00Z"}, "parameter 'until': must end in the future"),
    ({"key": "k", "until": "tomorrow"}, "parameter 'until': expected an ISO 8601 time"),
    ({"key": "k", "until": "2099-01-01T00:00:00"}, "parameter 'until': give a time zone"),
    ({"key": "k", "duration": "100d"}, "parameter 'duration': a silence lasts at most 90 days"),
    ({"channel": "fax", "duration": "1h"}, "parameter 'channel': expected one of email"),
    ({"key": "k", "duration": "1h", "colour": "red"}, "parameter 'colour': is not a parameter"),
])
def test_bad_silences_are_refused_naming_the_parameter(params, problem, storm):
    from notify_message.state.commands import create_silence

    config, server = storm()
    reply = create_silence(params, config)
    assert not reply.status and problem in reply.message


def test_silence_actions_without_storm_control_say_so():
    from notify_message.state.commands import list_silences

    reply = list_silences({}, {})
    assert not reply.status and "storm_control is not configured" in reply.message


# --- resend only what failed: the idempotencyKey ledger -----------------------------------

def test_a_rerun_with_the_same_idempotency_key_sends_only_what_was_not_delivered(
        storm, monkeypatch):
    config, server = storm()
    both = "soc-oncall,soc-backup"
    server.script(ROBOTS[1], 300005)   # soc-backup fails on the first run
    monkeypatch.setenv("ST2_ACTION_EXECUTION_ID", "run-1")
    first = notify_by_custom(alert(dingding=both, idempotencyKey="wf-7/notify"), config)
    assert outcomes(first) == [Outcome.DELIVERED, Outcome.FAILED]
    monkeypatch.setenv("ST2_ACTION_EXECUTION_ID", "run-2")
    rerun = notify_by_custom(alert(dingding=both, idempotencyKey="wf-7/notify"), config)
    assert rerun.status and outcomes(rerun) == [Outcome.DELIVERED, Outcome.DELIVERED]
    already = rerun.deliveries[0]
    assert already.attempts == 0 and already.reference == "run-1"
    assert "already delivered at " in already.detail and "by execution run-1" in already.detail
    assert [m.token for m in server.received] == [ROBOTS[0], ROBOTS[1]]
    third = notify_by_custom(alert(dingding=both, idempotencyKey="wf-7/notify"), config)
    assert [d.attempts for d in third.deliveries] == [0, 0] and len(server.received) == 2


# --- notifyByMessageCenter (provider local): dedup on eventId + the incident's id -------

def _message_center_config(smtp_config, state_section):
    config, server = smtp_config()
    config["message_center"] = {"recipients": [{
        "aliuid": "1766xxxx", "contacts": [{"name": "On call", "email": "oncall@163.com"}],
        "subscriptions": {"default": {"email": "on", "pmsg": "on"}}}]}
    config["storm_control"] = {"state": state_section}
    return config, server


INCIDENT = {"aliuid": "1766xxxx", "eventId": "yundun_soar_incident_generate",
            "params": {"incidentName": "Brute force", "incidentID": "inc-7",
                       "startTime": "2026-12-01 10:00:00"}}


def test_message_center_dedups_an_incident_re_fired_on_its_event_and_incident_id(
        smtp_config, state_section):
    from notify_message import notify_by_message_center

    config, server = _message_center_config(smtp_config, state_section)
    first = notify_by_message_center(INCIDENT, config)
    again = notify_by_message_center(INCIDENT, config)
    next_incident = dict(INCIDENT["params"], incidentID="inc-8")
    other = notify_by_message_center(dict(INCIDENT, params=next_incident), config)
    assert first.status and {d.outcome for d in first.deliveries} == {Outcome.DELIVERED}
    assert again.status and [d.outcome for d in again.deliveries] == [Outcome.SUPPRESSED] * 2
    assert "duplicate of execution" in again.deliveries[0].detail
    assert {d.outcome for d in other.deliveries} == {Outcome.DELIVERED}
    assert len(server.received) == 2


def test_message_center_takes_an_explicit_dedup_key_and_a_silence_on_its_event(
        smtp_config, state_section):
    from notify_message import notify_by_message_center
    from notify_message.state.commands import create_silence

    config, server = _message_center_config(smtp_config, state_section)
    assert create_silence({"key": "yundun_soar_incident_generate", "channel": "email",
                           "duration": "1h"}, config).status
    result = notify_by_message_center(dict(INCIDENT, dedupKey="k-1"), config)
    by_channel = {d.channel.value: d.outcome for d in result.deliveries}
    assert by_channel == {"email": Outcome.SUPPRESSED, "pmsg": Outcome.DELIVERED}
    assert server.received == []


# --- the storm_control config section ------------------------------------------------------

def test_the_shipped_example_s_section_parses_and_is_off_until_enabled():
    import os

    import yaml
    from conftest import PACK_DIR

    from notify_message import PackConfig

    with open(os.path.join(PACK_DIR, "notify_message.yaml.example")) as f:
        section = yaml.safe_load(f)["storm_control"]
    assert section["enabled"] is False
    assert PackConfig.from_mapping({"storm_control": section}).storm_control is None
    section.pop("enabled")
    settings = PackConfig.from_mapping({"storm_control": section}).storm_control
    assert settings.fallback == {"soc-oncall": ("soc-leads",)}
    assert settings.dedup_window("email") == 3600 and settings.dedup_window("dingtalk") == 600


@pytest.mark.parametrize("section, key, problem", [
    ({"colour": 1}, "storm_control.colour", "is not a storm_control key"),
    ({"state": {"backend": "redis"}}, "storm_control.state.url", "is required with backend"),
    ({"state": {"backend": "redis", "url": "http://x"}}, "storm_control.state.url",
     "expected a redis:// or rediss:// URL"),
    ({"state": {"backend": "redis", "url": "redis://:pw@h:abc/0"}}, "storm_control.state.url",
     "is not a valid URL"),
    ({"state": {"backend": "redis", "url": "redis://:pw@h:70000/0"}}, "storm_control.state.url",
     "is not a valid URL"),
    ({"state": {"backend": "redis", "url": "redis://[::1"}}, "storm_control.state.url",
     "is not a valid URL"),
    ({"state": {"backend": "redis", "url": "rediss://:pw@"}}, "storm_control.state.url",
     "names no host"),
    ({"state": {"backend": "etcd"}}, "storm_control.state.backend", "expected one of sqlite"),
    ({"dingtalk": {"per_minute": 21}}, "storm_control.dingtalk.per_minute",
     "from 1 to 20"),
    ({"dingtalk": {"fallback": ["x"]}}, "storm_control.dingtalk.fallback", "expected an object"),
    ({"dedup": {"windows": {"fax": 1}}}, "storm_control.dedup.windows.fax", "expected a channel"),
    ({"quiet_hours": [{"allow": {"from": "8:00", "to": "22:00"}}]},
     "storm_control.quiet_hours[0].allow.from", "expected a time of day HH:MM"),
    ({"quiet_hours": [{"allow": {"from": "08:00", "to": "22:00", "timezone": "Mars/Base"}}]},
     "storm_control.quiet_hours[0].allow.timezone", "expected an IANA time zone"),
    ({"quiet_hours": [{"allow": {"from": "08:00", "to": "22:00"}, "channels": ["fax"]}]},
     "storm_control.quiet_hours[0].channels", "expected channels among"),
    ({"digest": {"flush_interval": 31}}, "storm_control.digest.flush_interval", ""),
])
def test_a_bad_storm_control_key_is_named(section, key, problem):
    from notify_message import ConfigError, PackConfig

    with pytest.raises(ConfigError) as caught:
        PackConfig.from_mapping({"storm_control": section})
    assert caught.value.key == key and problem in caught.value.problem
    assert "pw" not in str(caught.value)  # a URL may hold the password: never quoted


def test_a_redis_password_never_shows_in_a_refusal(storm):
    from notify_message.state.commands import list_silences

    config, server = storm(state={"backend": "redis", "url": "redis://:Sup3rSecretPw@127.0.0.1:1/0",
                                  "timeout": 0.3})
    reply = list_silences({}, config)
    result = notify_by_custom(alert(), config)
    assert not reply.status and "Sup3rSecretPw" not in reply.message
    assert "Sup3rSecretPw" not in str(result.to_dict()) and result.status


def test_a_config_st2_built_without_storm_control_has_none():
    from test_config_as_st2_builds_it import as_st2_builds_it

    from notify_message import PackConfig

    built = as_st2_builds_it({"smtp_instances": [{"assetname": "soc", "emailUsername":
                                                  "soc@163.com", "emailPassword": "pw-123456"}]})
    assert "storm_control" in built   # st2 made the section from the schema
    assert PackConfig.from_mapping(built).storm_control is None


def test_a_store_holding_what_cannot_be_read_still_delivers_and_says_so(storm, tmp_path):
    import sqlite3

    path = str(tmp_path / "state.sqlite3")
    config, server = storm(state={"path": path})
    assert notify_by_custom(alert(idempotencyKey="run-1", dingding="soc-backup"), config).status
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE ledger SET entry = 'not json'")
    db.close()
    result = notify_by_custom(alert(idempotencyKey="run-1", dingding="soc-backup"), config)
    assert result.status and outcomes(result) == [Outcome.DELIVERED]
    summary = result.to_dict()["storm_control"]
    assert summary["active"] is False and "failed unexpectedly (JSONDecodeError)" in \
        summary["note"]
    assert len(server.received) == 2


def test_a_long_message_split_in_parts_keeps_every_part_and_counts_as_one_alert(storm):
    config, server = storm()
    text = "\n".join(f"line {n}: " + "x" * 90 for n in range(300))   # about 30 KB
    first = notify_by_custom(alert(text, dedupKey="long-1"), config)
    assert first.status and len(first.deliveries) >= 2
    assert all(d.target.startswith("soc-oncall (part ") for d in first.deliveries)
    again = notify_by_custom(alert(text, dedupKey="long-1"), config)
    assert outcomes(again) == [Outcome.SUPPRESSED]
    assert len(server.received) == len(first.deliveries)


def test_when_every_to_receiver_is_held_the_cc_left_gets_a_message_of_its_own(
        smtp_config, state_section):
    from notify_message.state.commands import create_silence

    config, server = smtp_config()
    config["storm_control"] = {"state": state_section}
    assert create_silence({"target": "a@163.com", "duration": "1h"}, config).status
    params = {"email": 1, "receivers": "a@163.com", "cc": "b@163.com", "bcc": "c@163.com",
              "emailcontext": "web-01 down"}
    result = notify_by_custom(params, config)
    assert [(d.target, d.outcome) for d in result.deliveries] == [
        ("a@163.com", Outcome.SUPPRESSED), ("b@163.com", Outcome.DELIVERED),
        ("c@163.com", Outcome.DELIVERED)]
    assert sorted(tuple(m.rcpt_tos) for m in server.received) == [("b@163.com",),
                                                                  ("c@163.com",)]
    assert all("a@163.com" not in str(m.message) for m in server.received)
    assert all("c@163.com" not in str(m.message["To"]) or m.rcpt_tos == ("c@163.com",)
               for m in server.received)
