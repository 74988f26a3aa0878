"""The state store's behaviour, the same on every backend: SQLite (one file), Redis, and Redis
over TLS, each a real one (``state_section`` in conftest.py).  Many processes race for one
budget and one queue: no more is ever granted than the limit, no item is leased twice."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import PACK_DIR

from notify_message.state.settings import StormSettings, open_store
from notify_message.state.store import StoreUnavailable, Window


@pytest.fixture
def store(state_section):
    opened = open_store(StormSettings.from_mapping({"state": state_section}).state)
    yield opened
    opened.close()


def test_a_budget_grants_its_limit_then_says_how_long_to_wait(store):
    granted = [store.take("robot-a", [Window(3, 30.0)]) for _ in range(5)]
    assert granted[:3] == [0.0, 0.0, 0.0]
    assert all(0 < wait <= 30.0 for wait in granted[3:])


def test_budgets_of_two_keys_are_separate(store):
    assert store.take("a", [Window(1, 30.0)]) == 0.0
    assert store.take("b", [Window(1, 30.0)]) == 0.0
    assert store.take("a", [Window(1, 30.0)]) > 0


def test_a_rolling_window_frees_its_oldest_take_first(store):
    assert store.take("k", [Window(2, 0.6)]) == 0.0
    time.sleep(0.3)
    assert store.take("k", [Window(2, 0.6)]) == 0.0
    wait = store.take("k", [Window(2, 0.6)])
    assert 0.0 < wait <= 0.35   # the first take leaves the window first
    time.sleep(wait + 0.05)
    assert store.take("k", [Window(2, 0.6)]) == 0.0


def test_every_window_must_allow_a_take_and_a_refused_take_counts_in_none(store):
    windows = [Window(1, 0.4), Window(2, 30.0)]
    assert store.take("voice", windows) == 0.0
    assert store.take("voice", windows) > 0          # the short window is full
    time.sleep(0.45)
    assert store.take("voice", windows) == 0.0       # the refused take was not counted
    assert store.take("voice", [Window(2, 30.0)]) > 0


def test_a_dedup_claim_is_held_by_its_first_claimer_until_it_expires(store):
    first = store.claim("alert-1", "exec-a", 0.5)
    second = store.claim("alert-1", "exec-b", 0.5)
    assert first.won and not second.won
    assert second.owner == "exec-a" and abs(second.at - first.at) < 0.01
    time.sleep(0.6)
    assert store.claim("alert-1", "exec-c", 5).won


def test_only_the_owner_releases_a_claim(store):
    store.claim("alert-2", "exec-a", 30)
    store.release("alert-2", "exec-b")
    assert not store.claim("alert-2", "exec-c", 30).won
    store.release("alert-2", "exec-a")
    assert store.claim("alert-2", "exec-c", 30).won


def test_a_queue_leases_each_item_to_one_flusher_and_ack_removes_it(store):
    ids = [store.push("dingtalk/soc", json.dumps({"n": n})) for n in range(3)]
    assert len(set(ids)) == 3 and store.pending("dingtalk/soc") == 3
    assert store.queues() == ["dingtalk/soc"]
    first = store.lease("dingtalk/soc", 30, 2)
    second = store.lease("dingtalk/soc", 30, 10)
    assert [json.loads(i.data)["n"] for i in first.items] == [0, 1]
    assert [json.loads(i.data)["n"] for i in second.items] == [2]
    assert store.lease("dingtalk/soc", 30, 10).items == ()
    assert store.ack(first) == 2 and store.pending("dingtalk/soc") == 1
    assert store.ack(second) == 1 and store.queues() == []


def test_an_item_whose_lease_ended_is_offered_again_and_the_old_lease_cannot_ack_it(store):
    store.push("email/soc/a@163.com", "alert")
    crashed = store.lease("email/soc/a@163.com", 0.3, 10)
    assert len(crashed.items) == 1
    time.sleep(0.35)
    again = store.lease("email/soc/a@163.com", 30, 10)
    assert [i.data for i in again.items] == ["alert"]
    assert again.items[0].pushed_at == crashed.items[0].pushed_at
    assert store.ack(crashed) == 0 and store.pending("email/soc/a@163.com") == 1
    assert store.ack(again) == 1


def test_an_item_queued_for_later_is_not_offered_before_then(store):
    store.push("sms/13800000000", "night", not_before=store.now() + 0.4)
    assert store.lease("sms/13800000000", 30, 10).items == ()
    time.sleep(0.45)
    assert len(store.lease("sms/13800000000", 30, 10).items) == 1


def test_a_remembered_moment_is_forgotten_once_past(store):
    assert store.get_until("throttled/soc") == 0.0
    until = store.now() + 0.4
    store.set_until("throttled/soc", until)
    assert store.get_until("throttled/soc") == pytest.approx(until, abs=0.01)
    time.sleep(0.45)
    assert store.get_until("throttled/soc") == 0.0


def test_the_ledger_keeps_each_target_s_entry_for_its_ttl(store):
    store.ledger_put("run-7", "email:a@163.com", "e1", 30)
    store.ledger_put("run-7", "dingtalk:soc", "e2", 30)
    store.ledger_put("run-7", "email:a@163.com", "e3", 30)
    assert store.ledger_get("run-7") == {"email:a@163.com": "e3", "dingtalk:soc": "e2"}
    assert store.ledger_get("run-8") == {}


def test_silences_are_listed_until_they_end_or_are_expired(store):
    now = store.now()
    store.silence_put("s1", "one", now + 30)
    store.silence_put("s2", "two", now + 0.3)
    assert store.silences() == [("s1", "one"), ("s2", "two")]
    time.sleep(0.35)
    assert store.silences() == [("s1", "one")]
    assert store.silence_expire("s1") and not store.silence_expire("s1")
    assert not store.silence_expire("s2") and store.silences() == []


RACER = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, %(lib)r)
    from notify_message.state.settings import StormSettings, open_store
    from notify_message.state.store import Window
    store = open_store(StormSettings.from_mapping({"state": json.loads(sys.argv[1])}).state)
    while time.time() < float(sys.argv[2]):   # every racer starts at the same moment
        time.sleep(0.001)
    if sys.argv[3] == "take":
        print(sum(store.take("shared", [Window(50, 60.0)]) == 0.0 for _ in range(20)))
    else:
        got = []
        for _ in range(40):
            leased = store.lease("storm", 60, 3)
            got += [i.data for i in leased.items]
            store.ack(leased)
        print(json.dumps(got))
""") % {"lib": os.path.join(PACK_DIR, "actions", "lib")}


def _race(state_section, what, processes=8):
    start = time.time() + 2.0
    racers = [subprocess.Popen([sys.executable, "-c", RACER, json.dumps(state_section),
                                str(start), what], stdout=subprocess.PIPE, text=True)
              for _ in range(processes)]
    outputs = [racer.communicate(timeout=60)[0] for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), outputs
    return outputs


def test_eight_processes_racing_for_one_budget_are_never_granted_more_than_its_limit(
        state_section):
    granted = [int(out) for out in _race(state_section, "take")]
    assert sum(granted) == 50   # 160 takes asked for, exactly the limit granted


def test_racing_flushers_lease_every_queued_item_exactly_once(state_section, store):
    pushed = [f"alert-{n}" for n in range(120)]
    for item in pushed:
        store.push("storm", item)
    leased = [item for out in _race(state_section, "lease", processes=4)
              for item in json.loads(out)]
    assert sorted(leased) == sorted(pushed)
    assert store.pending("storm") == 0


# --- when the store cannot be used: a clear StoreUnavailable, quickly ---------------------

def test_a_sqlite_path_that_cannot_be_created_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    path = str(blocker / "state.sqlite3")
    with pytest.raises(StoreUnavailable) as caught:
        open_store(StormSettings.from_mapping({"state": {"path": path}}).state)
    assert path in str(caught.value) and "storm_control.state.path" in str(caught.value)


def test_a_sqlite_store_locked_past_its_bound_is_unavailable_within_it(tmp_path):
    import sqlite3

    path = str(tmp_path / "state.sqlite3")
    store = open_store(StormSettings.from_mapping(
        {"state": {"path": path, "timeout": 0.3}}).state)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="locked past 0.3s"):
        store.take("k", [Window(1, 60.0)])
    assert time.monotonic() - started < 1.5
    holder.execute("ROLLBACK")
    assert store.take("k", [Window(1, 60.0)]) == 0.0


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "redis://:wrong-pw-123@{host}/0"])
def test_a_redis_store_that_cannot_be_used_is_unavailable_without_showing_a_password(
        url, redis_servers):
    server = redis_servers("redis")
    url = url.format(host=f"127.0.0.1:{server.port}")
    store = open_store(StormSettings.from_mapping(
        {"state": {"backend": "redis", "url": url, "timeout": 0.5}}).state)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        store.take("k", [Window(1, 60.0)])
    assert time.monotonic() - started < 2.0
    assert "wrong-pw" not in str(caught.value) and "redis 127.0.0.1:" in str(caught.value)


def test_a_lease_given_back_is_offered_again_at_once(store):
    store.push("q", "one")
    leased = store.lease("q", 60, 10)
    store.unlease(leased)
    again = store.lease("q", 60, 10)
    assert [i.data for i in again.items] == ["one"]
    store.unlease(leased)   # the old lease no longer holds it
    assert store.lease("q", 60, 10).items == ()
