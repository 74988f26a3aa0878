"""DingTalk protocol facts: the signing vectors of the design notes, the fields each msgtype needs,
and the text DingTalk searches for a robot's keywords."""

import urllib.parse

import pytest

from notify_message.channels.dingtalk.protocol import (
    explain_errcode,
    message_text,
    missing_fields,
    sign,
    signed_query,
)


# Vectors from the project's design notes (shared/DESIGN.md section 4, DingTalk custom group
# robot), computed there from DingTalk's documented algorithm; DingTalk publishes none.
@pytest.mark.parametrize("secret, timestamp, expected", [
    ("SECtest", 1700000000000, "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D"),
    ("SECx", 1700000000000, "rgcjbH%2ByFyES%2BS0llX%2BcAPCwVRpsr7sbiX5Lnyo%2FocU%3D"),
])
def test_sign_matches_the_design_notes_vectors(secret, timestamp, expected):
    assert sign(secret, timestamp) == expected


def test_the_signed_query_decodes_to_the_timestamp_and_the_base64_signature():
    query = urllib.parse.parse_qs(signed_query("SECx", 1700000000000))
    assert query == {"timestamp": ["1700000000000"],
                     "sign": ["rgcjbH+yFyES+S0llX+cAPCwVRpsr7sbiX5Lnyo/ocU="]}


@pytest.mark.parametrize("msgtype, payload, missing", [
    ("text", {"content": "x"}, []),
    ("text", {"content": "  "}, ["content"]),
    ("markdown", {"text": "x"}, ["title"]),
    ("markdown", {"title": "x"}, ["text"]),
    ("link", {"title": "t", "text": "x"}, ["messageUrl"]),
    ("link", {"title": "t", "text": "x", "messageURL": "https://a"}, ["messageUrl"]),
    ("actionCard", {"title": "t", "text": "x"}, ["singleTitle", "singleURL"]),
    ("actionCard", {"title": "t", "text": "x", "btns": []}, ["btns"]),
    ("actionCard", {"title": "t", "text": "x", "btns": [{"title": "a"}]}, ["btns[0].actionURL"]),
    ("feedCard", {"links": [{"title": "a", "messageUrl": "https://a", "picURL": "https://p"}]},
     ["links[0].messageURL"]),
    ("feedCard", {}, ["links"]),
])
def test_missing_fields_name_what_each_msgtype_requires(msgtype, payload, missing):
    assert missing_fields(msgtype, payload) == missing


def test_keywords_are_searched_in_titles_texts_buttons_and_feed_links():
    card = {"msgtype": "actionCard", "actionCard": {
        "title": "T", "text": "X", "btns": [{"title": "处置", "actionURL": "https://a"}]}}
    feed = {"msgtype": "feedCard", "feedCard": {"links": [
        {"title": "告警一", "messageURL": "https://a", "picURL": "https://p"}]}}
    assert "处置" in message_text(card) and "告警一" in message_text(feed)
    assert "https://a" not in message_text(card)  # links are not content


@pytest.mark.parametrize("errmsg, advice", [
    ("keywords not in content", "keywords"),
    ("sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]", "secret"),
    ("invalid timestamp", "clock"),
    ("ip 203.0.113.9 not in whitelist", "egress IP"),
])
def test_a_security_rejection_is_explained_by_its_reason_and_never_retried(errmsg, advice):
    transient, explanation = explain_errcode(310000, errmsg)
    assert not transient and advice in explanation
