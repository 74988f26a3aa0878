"""DingTalk text and markdown over 20000 bytes: split into numbered parts at line boundaries
(or truncated, as configured), each part a delivery, each still carrying the robot's keyword
and the @mentions; the loopback robot, which refuses bodies over the limit as DingTalk does,
takes every part."""

import copy
import json
import re

import pytest
from helpers import DINGTALK_SECRET, DINGTALK_TOKEN, dingtalk_config, dingtalk_robot
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from notify_message import notify_by_custom
from notify_message.channels.dingtalk.message import DingTalkMessage, Mentions, RobotTarget
from notify_message.channels.dingtalk.protocol import (
    MAX_BODY_BYTES,
    encode_body,
    keywords_found,
    message_text,
)
from notify_message.channels.dingtalk.split import MAX_PARTS, TooLong, message_bodies

from testkit.dingtalk_server import FakeRobot

MOBILE = "13800138000"
KEYWORD = "告警"
PART = re.compile(r"^\((\d+)/(\d+)\)(?: " + KEYWORD + r")?\n+")


@pytest.fixture
def robot(dingtalk_server, local_ca):
    """make(**robot entry fields, settings=...) -> (config, server): a signed robot with a
    keyword and an @mobile, on the loopback server."""

    def make(settings=None, **fields):
        server = dingtalk_server([FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET,
                                            keywords=(KEYWORD,))])
        entry = dingtalk_robot(server, secret=DINGTALK_SECRET, keywords=[KEYWORD],
                               at_mobiles=[MOBILE], default=True, **fields)
        return dingtalk_config(server, local_ca, entry, **(settings or {})), server

    return make


def long_text(lines=900, keyword_first=True):
    """About 45 kB of log lines (some Chinese), the keyword only on the first line."""
    first = f"{KEYWORD}: web-01 disk full" if keyword_first else "web-01 disk full"
    return "\n".join([first] + [f"{i:04d} 磁盘 /var/log/app-{i}.log is 99% full, rotate it"
                                for i in range(lines)])


def shares(texts):
    """The original text back from the parts' texts (headings removed)."""
    return "\n".join(PART.sub("", t, count=1) for t in texts)


def test_a_long_text_is_split_into_numbered_parts_each_delivered(robot):
    config, server = robot()
    text = long_text()
    result = notify_by_custom({"dingding": 1, "dingdingcontext": text}, config).to_dict()
    assert result["status"] is True, result["message"]
    received = server.received
    count = len(received)
    assert 2 <= count <= 4
    assert [d["target"] for d in result["deliveries"]] == [
        f"soc-oncall (part {n}/{count})" for n in range(1, count + 1)]
    contents = [m.payload["content"] for m in received]
    assert [PART.match(c).groups() for c in contents] == [
        (str(n), str(count)) for n in range(1, count + 1)]
    assert shares(contents) == text
    for message in received:
        assert len(encode_body(message.body)) <= MAX_BODY_BYTES
        assert KEYWORD in message.payload["content"] and message.signed
        assert message.notified == (MOBILE,)


def test_each_markdown_part_writes_the_mention_in_its_text(robot):
    config, server = robot()
    result = notify_by_custom({"dingding": 1, "dingdingMsgType": "markdown",
                               "dingdingcontext": json.dumps({"title": f"{KEYWORD} disk",
                                                              "text": long_text()})}, config)
    assert result.status, result.message
    received = server.received
    assert len(received) >= 2
    for n, message in enumerate(received, 1):
        assert f"@{MOBILE}" in message.payload["text"] and message.notified == (MOBILE,)
        assert message.payload["title"] == f"{KEYWORD} disk ({n}/{len(received)})"


def test_truncate_sends_one_message_cut_with_a_marker(robot):
    config, server = robot(long_messages="truncate")
    text = long_text()
    result = notify_by_custom({"dingding": 1, "dingdingcontext": text}, config).to_dict()
    assert result["status"] is True and [d["target"] for d in result["deliveries"]] == [
        "soc-oncall"]
    [message] = server.received
    content = message.payload["content"]
    assert len(encode_body(message.body)) <= MAX_BODY_BYTES
    assert content.endswith(f"DingTalk takes at most {MAX_BODY_BYTES}]")
    kept = content.rsplit("\n[truncated", 1)[0]
    assert text.startswith(kept) and len(kept) > len(text) / 3


def test_the_config_option_truncates_and_a_robot_may_choose_split(robot):
    config, server = robot(settings={"dingtalk_long_messages": "truncate"})
    assert notify_by_custom({"dingding": 1, "dingdingcontext": long_text()}, config).status
    assert len(server.received) == 1
    config, server = robot(settings={"dingtalk_long_messages": "truncate"},
                           long_messages="split")
    assert notify_by_custom({"dingding": 1, "dingdingcontext": long_text()}, config).status
    assert len(server.received) > 1


def test_a_part_whose_text_lacks_the_keyword_gets_it_in_its_heading(robot):
    config, server = robot()
    text = long_text(keyword_first=True)
    assert notify_by_custom({"dingding": 1, "dingdingcontext": text}, config).status
    later = [m.payload["content"] for m in server.received[1:]]
    assert later and all(c.split("\n", 1)[0].endswith(f" {KEYWORD}") for c in later)


def test_one_line_longer_than_the_limit_is_cut_between_characters(robot):
    config, server = robot()
    text = KEYWORD + "磁" * 12000  # one line of 36 kB
    assert notify_by_custom({"dingding": 1, "dingdingcontext": text}, config).status
    contents = [m.payload["content"] for m in server.received]
    assert len(contents) == 2 and "".join(PART.sub("", c) for c in contents) == text


def test_a_failed_part_is_named_and_the_rest_are_not_sent(robot):
    config, server = robot()
    server.script(DINGTALK_TOKEN, 0, 400102)  # the robot is disabled after the first part
    result = notify_by_custom({"dingding": 1, "dingdingcontext": long_text(1400)},
                              config).to_dict()
    first, second, *rest = result["deliveries"]
    count = len(result["deliveries"])
    assert count >= 3 and first["outcome"] == "delivered"
    assert second["target"] == f"soc-oncall (part 2/{count})" and second["code"] == "400102"
    assert all(d["outcome"] == "not sent" and "part 2 of" in d["detail"] for d in rest)
    assert server.requests == 2 and result["status"] is False


def test_a_text_that_would_make_too_many_parts_is_refused_before_sending(robot):
    config, server = robot()
    result = notify_by_custom({"dingding": 1, "dingdingcontext": long_text(20000)}, config)
    assert result.status is False and result.message.startswith("Nothing was sent")
    assert f"at most {MAX_PARTS}" in result.message or "far more than" in result.message
    assert "long_messages: truncate" in result.message and server.requests == 0


def test_a_dry_run_previews_every_part(robot):
    config, server = robot()
    result = notify_by_custom({"dingding": 1, "dingdingcontext": long_text(),
                               "dryRun": True}, config).to_dict()
    assert result["status"] is True and len(result["preview"]) >= 2
    assert all(p["bytes"] <= MAX_BODY_BYTES for p in result["preview"])
    assert server.requests == 0


def test_a_link_message_over_the_limit_is_refused_with_its_size(robot):
    config = robot()[0]
    link = {"title": KEYWORD, "messageUrl": "https://example.com", "text": "x" * 30000}
    result = notify_by_custom({"dingding": 1, "dingdingMsgType": "link",
                               "dingdingcontext": json.dumps(link)}, config)
    assert "makes a link message of" in result.message and "460101" in result.message


def test_a_message_center_webhook_message_over_the_limit_is_split(robot):
    config, server = robot()
    config = copy.deepcopy(config)
    config["message_center"] = {
        "recipients": [{"aliuid": "1", "webhooks": ["soc-oncall"],
                        "subscriptions": {"default": {"webhook": "on"}}}],
        "templates": {"big": {"en": {"subject": f"{KEYWORD} $name", "body": "$a\n$b\n$c"}}}}
    from notify_message import notify_by_message_center

    result = notify_by_message_center({"aliuid": "1", "eventId": "big", "lang": "en",
                                       "params": {"name": "n", "a": long_text(170),
                                                  "b": long_text(170), "c": long_text(170)}},
                                      config)
    assert result.status, result.message
    assert len(server.received) >= 2


# --- the splitter alone, with generated texts and a small limit ----------------------------

ROBOT = RobotTarget("r", webhook=None, keywords=("kw", "告警"),  # type: ignore[arg-type]
                    mentions=Mentions(("13800000000",)))


@hypothesis_settings(max_examples=150, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=3000),
       msgtype=st.sampled_from(["text", "markdown"]))
def test_every_part_fits_keeps_the_keyword_and_the_text(text, msgtype):
    text = "kw " + text
    payload = {"content": text} if msgtype == "text" else {"title": "t", "text": text}
    message = DingTalkMessage(msgtype, payload)
    limit = 900
    try:
        bodies = message_bodies(message, ROBOT, "split", limit=limit)
    except TooLong as exc:
        assert "messages" in str(exc)  # too many parts, said with the count
        return
    for body in bodies:
        assert len(encode_body(body)) <= limit
        assert keywords_found(ROBOT.keywords, message_text(body))
        assert body["at"]["atMobiles"] == ["13800000000"]
        if msgtype == "markdown":  # DingTalk notifies only whom the text names
            assert "@13800000000" in body["markdown"]["text"]
    if len(bodies) == 1:
        assert bodies == [message.body(ROBOT.mentions)]
    elif msgtype == "text":  # the parts, headings removed, are the text (cut at whitespace)
        texts = [re.sub(r"^\(\d+/\d+\)(?: kw)?\n", "", b["text"]["content"], count=1)
                 for b in bodies]
        squeeze = re.compile(r"\s+")
        assert squeeze.sub("", "".join(texts)) == squeeze.sub("", text)
