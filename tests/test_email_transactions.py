"""One SMTP transaction per notification, pipelined where offered, retried without
duplicates: checked against the loopback server (tests/test_email_delivery.py has the rest)."""

import asyncio
import base64
import os
import ssl

import aiosmtplib
import pytest
from helpers import SMTP_CODE, SMTP_LOGIN

from notify_message import notify_by_custom
from notify_message.channels.email.message import thread_ids
from notify_message.channels.email.pipeline import MailSession, dot_stuffed
from notify_message.channels.email.plaintext import html_to_text

FAST_RETRY = {"retry_backoff": 0.01}


def send(config, **params):
    params = dict({"email": 1, "emailTitle": "告警", "emailcontext": "body"}, **params)
    return notify_by_custom(params, config)


def outcomes(result):
    return [(d.target, d.outcome.value, d.code) for d in result.deliveries]


# --- the pipelining module, on its own ---------------------------------------------------

def transact(server, local_ca, recipients, content=b"Subject: x\r\n\r\nbody\r\n", twice=False,
             timeout=5):
    async def run():
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, use_tls=True,
                                 tls_context=ssl.create_default_context(
                                     cafile=local_ca.ca_file))
        await client.connect()
        await client.login(SMTP_LOGIN, SMTP_CODE)
        session = MailSession(client)
        done = [await session.transaction(SMTP_LOGIN, recipients, content, timeout=timeout)]
        if twice:
            done.append(await session.transaction(SMTP_LOGIN, recipients, content, timeout=5))
        await session.quit(2)
        return session, done

    return asyncio.run(run())


def test_with_pipelining_mail_every_rcpt_and_data_go_in_one_write(smtp_server, local_ca):
    server = smtp_server()
    session, [tx] = transact(server, local_ca, tuple("r%d@163.com" % i for i in range(50)))
    assert session.pipelining and tx.pipelined and tx.delivered
    assert tx.writes == 2  # the command group, then the content
    verbs = [(c["verb"], c["pipelined"]) for c in server.commands]
    assert verbs == [("MAIL", True)] + [("RCPT", True)] * 50 + [("DATA", False)]
    assert server.received[0].rcpt_tos == tuple("r%d@163.com" % i for i in range(50))


def test_without_pipelining_commands_go_one_at_a_time(smtp_server, local_ca):
    server = smtp_server(pipelining=False)
    session, [tx] = transact(server, local_ca, ("a@163.com", "b@163.com"))
    assert not session.pipelining and tx.delivered and tx.writes == 5
    assert not any(c["pipelined"] for c in server.commands)


def test_a_strict_server_refuses_commands_sent_ahead_of_its_answer(smtp_server, local_ca):
    """The oracle's side: a client that pipelines without the offer is cut off (as Exim)."""
    server = smtp_server(pipelining=False)

    async def run():
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=ssl.create_default_context(cafile=local_ca.ca_file))
        await reader.readline()
        writer.write(b"EHLO me\r\n")
        while (await reader.readline())[3:4] == b"-":
            pass
        auth = base64.b64encode(b"\0" + SMTP_LOGIN.encode() + b"\0" + SMTP_CODE.encode())
        writer.write(b"AUTH PLAIN " + auth + b"\r\n")
        await reader.readline()
        writer.write(b"MAIL FROM:<%s>\r\nRCPT TO:<a@163.com>\r\n" % SMTP_LOGIN.encode())
        answer = await reader.readline()
        rest = await reader.read()
        writer.close()
        return answer, rest

    answer, rest = asyncio.run(run())
    assert answer.startswith(b"554 SMTP synchronization error") and rest == b""


def test_a_refused_recipient_fails_alone_and_without_any_accepted_there_is_no_data(
        smtp_server, local_ca):
    server = smtp_server(rcpt_replies={"gone@163.com": "550 5.1.1 User unknown"})
    _, [tx] = transact(server, local_ca, ("gone@163.com",))
    assert [r.code for r in tx.rcpt] == [550] and not tx.content_sent and tx.final is None
    assert server.received == [] and server.commands[-1]["verb"] == "RSET"


def test_the_session_takes_a_second_transaction_after_the_first(smtp_server, local_ca):
    server = smtp_server()
    _, done = transact(server, local_ca, ("a@163.com",), twice=True)
    assert [tx.delivered for tx in done] == [True, True] and len(server.received) == 2


def test_one_deadline_covers_the_whole_transaction(smtp_server, local_ca):
    server = smtp_server(latency=0.2)  # each of MAIL, RCPT, RCPT, RCPT: 0.8 s in all
    session, [tx] = transact(server, local_ca, ("a@163.com", "b@163.com", "c@163.com"),
                             timeout=0.5)
    assert isinstance(tx.error, TimeoutError) and not tx.content_sent and not session.usable


def test_a_connection_dropped_after_the_content_leaves_the_final_answer_unknown(
        smtp_server, local_ca):
    server = smtp_server(script={"END": ["DROP"]})
    _, [tx] = transact(server, local_ca, ("a@163.com",))
    assert tx.content_sent and tx.final is None and tx.error is not None
    assert tx.accepted == ["a@163.com"]


@pytest.mark.parametrize("content, wire", [
    (b"a\n.b\n", b"a\r\n..b\r\n.\r\n"),
    (b".\r\n", b"..\r\n.\r\n"),
    (b"no end", b"no end\r\n.\r\n"),
    (b"x\r\n", b"x\r\n.\r\n"),
])
def test_content_is_dot_stuffed_with_crlf_line_ends(content, wire):
    assert dot_stuffed(content) == wire


# --- one transaction per notification ---------------------------------------------------

def test_to_lists_the_receivers_cc_the_cc_list_and_bcc_no_header(smtp_config):
    config, server = smtp_config()
    result = send(config, receivers="Zhang San <zhang@163.com>, b@163.com",
                  cc=["Li Si <li@163.com>"], bcc="hidden@163.com", replyTo="soc@163.com")
    assert result.status and [d.target for d in result.deliveries] == [
        "zhang@163.com", "b@163.com", "li@163.com", "hidden@163.com"]
    [mail] = server.received
    assert mail.rcpt_tos == ("zhang@163.com", "b@163.com", "li@163.com", "hidden@163.com")
    message = mail.message
    assert message["To"] == "Zhang San <zhang@163.com>, b@163.com"
    assert message["Cc"] == "Li Si <li@163.com>" and message["Reply-To"] == "soc@163.com"
    assert b"hidden" not in mail.data


def test_large_lists_split_into_transactions_of_the_instance_size(smtp_config):
    config, server = smtp_config(instance_overrides={"max_recipients_per_message": 4})
    receivers = ["r%d@163.com" % i for i in range(10)]
    result = send(config, receivers=receivers)
    assert result.status and [len(m.rcpt_tos) for m in server.received] == [4, 4, 2]
    assert [d.transaction for d in result.deliveries] == list("1111222233")
    assert len({m.message["Message-ID"] for m in server.received}) == 1  # one message


def test_the_server_s_recipient_limit_carries_the_rest_into_the_next_transaction(smtp_config):
    config, server = smtp_config(max_recipients=3)
    receivers = ["r%d@163.com" % i for i in range(7)]
    result = send(config, receivers=receivers)
    assert result.status, result.message
    assert [len(m.rcpt_tos) for m in server.received] == [3, 3, 1]
    assert sorted(r for m in server.received for r in m.rcpt_tos) == sorted(receivers)


def test_a_message_over_the_server_s_size_is_not_sent_and_says_so(smtp_config):
    config, server = smtp_config(max_message_bytes=2000)
    result = send(config, receivers="a@163.com", emailcontext="x" * 5000)
    [delivery] = result.deliveries
    assert delivery.outcome.value == "not sent" and "takes at most 2000" in delivery.detail
    assert server.transactions == []


@pytest.mark.parametrize("offered", [True, False])
def test_a_non_ascii_local_part_needs_smtputf8(smtp_config, offered):
    config, server = smtp_config(smtputf8=offered)
    result = send(config, receivers="b@163.com", bcc="张三@163.com")  # bcc: in no header
    by_target = {d.target: d for d in result.deliveries}
    assert by_target["b@163.com"].ok
    if offered:
        assert by_target["张三@163.com"].ok
        assert "张三@163.com" in server.received[0].rcpt_tos
    else:
        refused = by_target["张三@163.com"]
        assert refused.outcome.value == "not sent" and "张三@163.com" in refused.detail
        assert "SMTPUTF8" in refused.detail
        assert server.received[0].rcpt_tos == ("b@163.com",)


def test_a_non_ascii_address_in_a_header_needs_smtputf8_for_the_whole_message(smtp_config):
    config, server = smtp_config(smtputf8=False)
    result = send(config, receivers="张三@163.com,b@163.com")
    assert [d.outcome.value for d in result.deliveries] == ["not sent"] * 2
    assert "headers show 张三@163.com" in result.deliveries[1].detail
    assert server.transactions == []
    # one message each: the ASCII receiver's message shows only their own address
    result = send(config, receivers="张三@163.com,b@163.com", emailPerRecipient=True)
    assert [d.ok for d in result.deliveries] == [False, True]
    assert server.received[0].rcpt_tos == ("b@163.com",)


def test_with_smtputf8_offered_the_headers_carry_the_address_as_written(smtp_config):
    config, server = smtp_config()
    assert send(config, receivers="张三 <张三@163.com>").status
    assert server.received[0].message["To"] == "张三 <张三@163.com>"


def test_an_idn_domain_is_punycode_in_the_envelope(smtp_config):
    config, server = smtp_config()
    result = send(config, receivers="ops@例子.中国")
    assert result.status and result.deliveries[0].target == "ops@例子.中国"
    assert server.received[0].rcpt_tos == ("ops@xn--fsqu00a.xn--fiqs8s",)
    assert "xn--fsqu00a.xn--fiqs8s" in server.received[0].message["To"]


@pytest.mark.parametrize("fmt, html_expected", [("text", False), ("html", True),
                                                ("auto", True)])
def test_email_format_chooses_the_body_type(smtp_config, fmt, html_expected):
    config, server = smtp_config()
    assert send(config, receivers="a@163.com", emailcontext="<p>Hi</p>", emailFormat=fmt).status
    content_type = server.received[0].message.get_content_type()
    assert content_type == ("multipart/alternative" if html_expected else "text/plain")


def test_the_plain_alternative_keeps_table_cells_apart():
    text = html_to_text("<table><tr><th>Host</th><th>IP</th></tr>"
                        "<tr><td>web-01</td><td>10.0.0.1</td></tr></table>")
    assert text == "Host | IP\nweb-01 | 10.0.0.1\n"


def test_attachments_from_base64_and_from_an_allowed_path(smtp_config, tmp_path):
    allowed = tmp_path / "evidence"
    allowed.mkdir()
    (allowed / "report.pdf").write_bytes(b"%PDF-1.4 report")
    config, server = smtp_config(instance_overrides={"attachment_dirs": [str(allowed)]})
    result = send(config, receivers="a@163.com", attachments=[
        {"filename": "ioc.txt", "content": base64.b64encode(b"203.0.113.9").decode()},
        {"path": str(allowed / "report.pdf")}])
    assert result.status, result.message
    files = {p.get_filename(): (p.get_content_type(), p.get_content())
             for p in server.received[0].message.iter_attachments()}
    assert files == {"ioc.txt": ("text/plain", "203.0.113.9"),
                     "report.pdf": ("application/pdf", b"%PDF-1.4 report")}


def test_an_inline_image_is_related_to_the_html_by_its_cid(smtp_config):
    config, server = smtp_config()
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 20
    result = send(config, receivers="a@163.com", emailcontext='<p><img src="cid:chart"></p>',
                  attachments=[{"filename": "chart.png", "content": base64.b64encode(png)
                                .decode(), "inline": True, "contentId": "chart"}])
    assert result.status, result.message
    message = server.received[0].message
    related = message.get_body(("related",))
    assert related is not None
    [image] = [p for p in related.iter_parts() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<chart>" and image.get_content() == png


def test_a_thread_key_gives_stable_references_and_new_message_ids(smtp_config):
    config, server = smtp_config()
    for _ in range(2):
        assert send(config, receivers="a@163.com", threadKey="incident-4711").status
    first, second = (m.message for m in server.received)
    root, _ = thread_ids("incident-4711", "163.com")
    assert first["In-Reply-To"] == second["In-Reply-To"] == root == first["References"]
    assert first["Message-ID"] != second["Message-ID"]
    assert first["Message-ID"].endswith("@163.com>")


# --- retries ------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["450 4.2.1 Mailbox busy", "451 4.3.0 Try later",
                                  "452 4.2.2 Mailbox full", "454 4.7.0 TLS not available"])
def test_a_temporary_rcpt_answer_is_retried_for_that_receiver_only(smtp_config, code):
    config, server = smtp_config(instance_overrides=FAST_RETRY,
                                 script={"RCPT b@163.com": [code]})
    result = send(config, receivers="a@163.com,b@163.com")
    assert result.status, result.message
    assert [m.rcpt_tos for m in server.received] == [("a@163.com",), ("b@163.com",)]
    assert [(d.attempts, d.transaction) for d in result.deliveries] == [(1, "1"), (2, "2")]


def test_a_temporary_answer_after_the_content_retries_the_message(smtp_config):
    config, server = smtp_config(instance_overrides=FAST_RETRY,
                                 script={"END": ["451 4.3.0 Local problem"]})
    result = send(config, receivers="a@163.com,b@163.com")
    assert result.status and len(server.received) == 1
    assert [t["end"][:3] for t in server.transactions] == ["451", "250"]


def test_421_closes_the_session_and_one_new_login_finishes_the_job(smtp_config):
    config, server = smtp_config(instance_overrides=FAST_RETRY,
                                 script={"MAIL": ["421 4.7.0 Too many connections"]})
    result = send(config, receivers="a@163.com,b@163.com")
    assert result.status, result.message
    assert server.sessions == 2 and len(server.received) == 1


def test_a_connection_dropped_before_the_content_is_retried(smtp_config):
    config, server = smtp_config(instance_overrides=FAST_RETRY, script={"RCPT": ["DROP"]})
    result = send(config, receivers="a@163.com")
    assert result.status and server.sessions == 2 and len(server.received) == 1


def test_only_one_new_login_after_the_server_closes_twice(smtp_config):
    config, server = smtp_config(instance_overrides=FAST_RETRY,
                                 script={"MAIL": ["421 4.7.0 Bye"] * 3})
    [delivery] = send(config, receivers="a@163.com").deliveries
    assert (delivery.outcome.value, delivery.code) == ("failed", "421")
    assert "one new login" in delivery.detail and server.sessions == 2


def test_a_temporary_answer_that_stays_fails_once_the_policy_is_spent(smtp_config):
    config, server = smtp_config(instance_overrides=dict(FAST_RETRY, retry_attempts=2),
                                 rcpt_replies={"b@163.com": "450 4.2.1 Mailbox busy"})
    result = send(config, receivers="a@163.com,b@163.com")
    assert outcomes(result) == [("a@163.com", "delivered", "250"),
                                ("b@163.com", "failed", "450")]
    assert result.deliveries[1].attempts == 2 and len(server.received) == 1


def test_an_accepted_receiver_is_never_sent_twice(smtp_config):
    config, server = smtp_config(instance_overrides=FAST_RETRY,
                                 script={"RCPT b@163.com": ["450 busy", "450 busy"]})
    send(config, receivers="a@163.com,b@163.com,c@163.com")
    delivered = [r for m in server.received for r in m.rcpt_tos]
    assert sorted(delivered) == ["a@163.com", "b@163.com", "c@163.com"]


def test_attachment_paths_outside_the_allowed_directories_are_refused(smtp_config, tmp_path):
    allowed = tmp_path / "ok"
    allowed.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    os.symlink(secret, allowed / "link.txt")
    config, server = smtp_config(instance_overrides={"attachment_dirs": [str(allowed)]})
    for path in (str(secret), str(allowed / ".." / "secret.txt"), str(allowed / "link.txt")):
        result = send(config, receivers="a@163.com", attachments=[{"path": path}])
        assert not result.deliveries and "attachments[0].path" in result.message
        assert "not under a directory of attachment_dirs" in result.message
    assert server.transactions == []


# --- every bad value is refused by name, before anything is sent ---------------------------

B64 = base64.b64encode(b"x").decode()


@pytest.mark.parametrize("params, parameter, words", [
    ({"cc": "not-an-address"}, "cc", "is not an email address"),
    ({"bcc": ["a@163.com", "b@@x"]}, "bcc", "is not an email address"),
    ({"replyTo": "x\r\nBcc: evil@x.com"}, "replyTo", "is not an email address"),
    ({"emailFormat": "markdown"}, "emailFormat", "expected one of auto, text, html"),
    ({"attachments": [{"filename": "a.txt", "content": "***"}]}, "attachments[0].content",
     "not valid base64"),
    ({"attachments": [{"content": B64}]}, "attachments[0].filename", "is required"),
    ({"attachments": [{"filename": "a", "content": B64, "path": "/tmp/a"}]}, "attachments[0]",
     "exactly one of content"),
    ({"attachments": [{"filename": "../a", "content": B64}]}, "attachments[0].filename",
     "is not a file name"),
    ({"attachments": [{"filename": "a", "content": B64, "contentType": "pdf"}]},
     "attachments[0].contentType", "type/subtype"),
    ({"attachments": [{"filename": "a", "content": B64, "size": 1}]}, "attachments[0].size",
     "is not a key"),
    ({"attachments": [{"path": "/etc/passwd"}]}, "attachments[0].path",
     "no directory allows attachment paths"),
    ({"attachments": [{"filename": "a.png", "content": B64, "inline": True}]}, "attachments",
     "inline images need an HTML body"),
    ({"emailcontext": '<img src="cid:logo">'}, "emailcontext", "cid:logo"),
    ({"attachments": [{"filename": "a.txt", "content": B64, "inline": True}],
      "emailFormat": "html"}, "attachments[0].contentType", "an inline attachment is an image"),
    ({"threadKey": "a\nb"}, "threadKey", "control character"),
    ({"emailPerRecipient": "sometimes"}, "emailPerRecipient", "expected true / false"),
    ({"attachments": [{"filename": "big.bin", "content": base64.b64encode(b"0" * 2048)
                       .decode()}]}, "attachments", "max_attachment_bytes"),
])
def test_a_bad_email_extra_is_refused_naming_the_parameter(smtp_config, params, parameter,
                                                           words):
    config, server = smtp_config(instance_overrides={"max_attachment_bytes": 1024})
    result = send(config, receivers="a@163.com", **params)
    assert not result.status and not result.deliveries
    assert result.message.startswith("Nothing was sent: parameter '%s'" % parameter), \
        result.message
    assert words in result.message
    assert server.sessions == 0


def test_a_rejected_login_is_not_tried_again_for_each_per_recipient_message(smtp_config):
    config, server = smtp_config(instance_overrides={"emailPassword": "Expired0ldCode99"})
    result = send(config, receivers="a@163.com,b@163.com,c@163.com", emailPerRecipient=True)
    assert [(d.outcome.value, d.code) for d in result.deliveries] == [("not sent", "535")] * 3
    assert all("generate a new one" in d.detail for d in result.deliveries)
    assert server.sessions == 1


def test_address_headers_keep_names_whole_and_lines_short(smtp_config):
    config, server = smtp_config()
    long_name = "Security Operations, Night Shift (Hangzhou) " * 3
    receivers = ['"Zhang, San (SOC)" <zhang@163.com>', "张三 <san@163.com>",
                 '"%s" <night@163.com>' % long_name.strip()] + [
        "r%03d@163.com" % i for i in range(90)]
    assert send(config, receivers=receivers).status
    [mail] = server.received
    names = [(a.display_name, a.addr_spec) for a in mail.message["To"].addresses]
    assert names[:3] == [("Zhang, San (SOC)", "zhang@163.com"), ("张三", "san@163.com"),
                         (long_name.strip(), "night@163.com")]
    assert len(names) == 93
    header_block = mail.data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in header_block.split(b"\r\n")) <= 78


def test_a_dry_run_previews_one_message_for_everyone_and_no_bcc_header(smtp_config):
    config, server = smtp_config()
    result = notify_by_custom({"email": 1, "receivers": "a@163.com,b@163.com", "cc": "c@163.com",
                               "bcc": "hidden@163.com", "emailcontext": "x", "dryRun": True},
                              config).to_dict()
    [preview] = result["preview"]
    assert preview["envelope"]["rcpt_to"] == ["a@163.com", "b@163.com", "c@163.com",
                                              "hidden@163.com"]
    headers = dict(preview["headers"])
    assert headers["Cc"] == "c@163.com" and "hidden" not in str(preview["headers"])
    assert [d["target"] for d in result["deliveries"]] == preview["targets"]
    assert server.sessions == 0
