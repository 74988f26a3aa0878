"""Email delivered to a real SMTP server on loopback (implicit TLS, AUTH), and every failure
turned into a delivery that says what to do."""

import socket
import threading

import pytest
from helpers import SMTP_CODE, SMTP_LOGIN, free_port, smtp_instance

from notify_message import notify_by_custom

SAMPLE = {"email": 1, "receivers": '[{"userid":-1,"email":"xxx@163.com"}]',
          "emailTitle": "Custom notification test", "emailcontext": "Custom notification test"}


def send(config, **params):
    return notify_by_custom(dict(SAMPLE, **params), config)


def test_a_message_is_delivered_from_the_login_over_implicit_tls(smtp_config):
    config, server = smtp_config()
    result = send(config)
    assert result.status and result.deliveries[0].code == "250"
    [mail] = server.received
    assert (mail.login, mail.mail_from, mail.rcpt_tos) == (SMTP_LOGIN, SMTP_LOGIN, ("xxx@163.com",))
    message = mail.message
    assert message["From"] == SMTP_LOGIN and message["To"] == "xxx@163.com"
    assert message["Date"] and message["Message-ID"].endswith("@163.com>")
    assert message.get_content().strip() == "Custom notification test"


def test_a_chinese_subject_and_body_survive_the_wire(smtp_config):
    config, server = smtp_config()
    subject, body = "【安全告警】检测到新的安全事件 事件ID：12345", "云安全中心检测到可疑登录。\n请立即处理。"
    assert send(config, emailTitle=subject, emailcontext=body).status
    raw = server.received[0].data
    assert b"=?utf-8?" in raw.lower()  # RFC 2047 encoded word, not raw bytes in the header
    assert server.received[0].message["Subject"] == subject
    assert server.received[0].message.get_content().replace("\r\n", "\n").strip() == body


def test_an_html_body_goes_out_as_html_with_a_plain_text_alternative(smtp_config):
    config, server = smtp_config()
    html = "<html><body><h1>Alert</h1><p>Host <b>web-01</b> is compromised.</p></body></html>"
    assert send(config, emailcontext=html).status
    message = server.received[0].message
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("html",)).get_content().strip() == html
    plain = message.get_body(("plain",)).get_content()
    assert "Host web-01 is compromised." in plain and "<b>" not in plain


def test_one_transaction_carries_every_recipient_by_default(smtp_config):
    config, server = smtp_config()
    receivers = ["r%d@163.com" % i for i in range(12)]
    result = send(config, receivers=receivers)
    assert result.status and [d.target for d in result.deliveries] == receivers
    assert server.sessions == 1
    assert [m.rcpt_tos for m in server.received] == [tuple(receivers)]
    assert {d.transaction for d in result.deliveries} == {"1"}


def test_per_recipient_mode_gives_each_recipient_its_own_message(smtp_config):
    config, server = smtp_config()
    receivers = ["r%d@163.com" % i for i in range(12)]
    result = send(config, receivers=receivers, emailPerRecipient=True)
    assert result.status and [d.target for d in result.deliveries] == receivers
    assert server.sessions == 1
    assert [m.rcpt_tos for m in server.received] == [(r,) for r in receivers]
    assert [m.message["To"] for m in server.received] == receivers
    assert len({d.transaction for d in result.deliveries}) == 12


def test_a_refused_recipient_fails_alone_and_the_others_are_delivered(smtp_config):
    config, server = smtp_config(
        rcpt_replies={"gone@163.com": "550 User not found: gone@163.com"})
    result = send(config, receivers="a@163.com,gone@163.com,b@163.com")
    assert not result.status
    assert [(d.target, d.ok, d.code) for d in result.deliveries] == [
        ("a@163.com", True, "250"), ("gone@163.com", False, "550"), ("b@163.com", True, "250")]
    assert [m.rcpt_tos for m in server.received] == [("a@163.com", "b@163.com")]
    assert "gone@163.com" in result.message and "1 of 3 deliveries failed" in result.message


@pytest.mark.parametrize("reply, code", [
    ("535 Login Fail. Please enter your authorization code to login.", "535"),  # QQ
    ("535 Error: authentication failed", "535"),  # NetEase
    ("526 Authentication failure[0]", "526"),  # Alibaba Mail
])
def test_a_rejected_authorization_code_says_to_renew_it(smtp_config, reply, code):
    config, server = smtp_config(auth_failure_reply=reply)
    config["smtp_instances"][0]["emailPassword"] = "Expired0ldCode99"
    result = send(config)
    [delivery] = result.deliveries
    assert (delivery.ok, delivery.code) == (False, code)
    assert delivery.detail.startswith("not sent:") and "generate a new one" in delivery.detail
    assert server.received == []


def test_from_not_equal_to_login_is_explained(smtp_config):
    config, _ = smtp_config(mail_reply="553 Mail from must equal authorized user")
    [delivery] = send(config).deliveries
    assert delivery.code == "553" and "From address to equal the login" in delivery.detail


def test_a_temporary_failure_on_data_is_reported_with_its_code(smtp_config):
    config, server = smtp_config(data_reply="451 Temporary local problem - please try later")
    [delivery] = send(config).deliveries
    assert (delivery.ok, delivery.code) == (False, "451")
    assert "send again later" in delivery.detail and server.received == []


def test_a_dropped_connection_after_the_content_is_unknown_and_never_resent(smtp_config):
    config, server = smtp_config(drop_on_data=True)
    result = send(config, receivers="a@163.com,b@163.com,c@163.com")
    assert [d.outcome.value for d in result.deliveries] == ["outcome unknown"] * 3
    assert "closed the connection" in result.deliveries[0].detail
    assert "not sent again" in result.deliveries[0].detail
    assert server.sessions == 1 and len(server.transactions) == 1  # no second try


def test_per_recipient_drops_fail_that_message_and_the_rest_get_one_new_session(smtp_config):
    config, server = smtp_config(drop_on_data=True)
    result = send(config, receivers="a@163.com,b@163.com,c@163.com", emailPerRecipient=1)
    assert [d.ok for d in result.deliveries] == [False, False, False]
    assert "closed the connection" in result.deliveries[0].detail
    assert result.deliveries[2].detail.startswith("not sent:")  # never tried: said so
    assert server.sessions == 2  # one reconnect, then the call gives up


def test_connection_refused_names_host_port_and_tls_mode(smtp_server, local_ca):
    port = free_port()  # nothing listens there
    config = {"smtp_instances": [smtp_instance(type("S", (), {"port": port}), local_ca)]}
    [delivery] = send(config).deliveries
    assert not delivery.ok and delivery.code is None
    assert "connection refused by 127.0.0.1:%d (implicit TLS)" % port in delivery.detail


def test_a_server_that_never_answers_times_out_with_advice(local_ca):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    server = type("S", (), {"port": listener.getsockname()[1]})
    config = {"smtp_instances": [smtp_instance(server, local_ca, timeout=0.2)]}
    try:
        [delivery] = send(config).deliveries
    finally:
        listener.close()
    assert "timed out after 0.2s" in delivery.detail and "port 25" in delivery.detail


def test_an_unverifiable_certificate_is_refused_and_ca_bundle_is_suggested(smtp_server, local_ca):
    server = smtp_server()
    config = {"smtp_instances": [smtp_instance(server, local_ca, ca_bundle="")]}
    [delivery] = send(config).deliveries
    assert not delivery.ok and "could not be verified" in delivery.detail
    assert "ca_bundle" in delivery.detail and server.received == []


def test_implicit_tls_against_a_plain_server_explains_the_tls_mode(smtp_server, local_ca):
    server = smtp_server(tls=False)
    [delivery] = send({"smtp_instances": [smtp_instance(server, local_ca)]}).deliveries
    assert not delivery.ok and "TLS failed" in delivery.detail and "starttls" in delivery.detail


def test_the_password_never_appears_in_the_result(smtp_config):
    config, _ = smtp_config(auth_failure_reply="535 bad credentials for " + SMTP_CODE)
    config["smtp_instances"][0]["emailPassword"] = SMTP_CODE
    config["smtp_instances"][0]["emailUsername"] = "other@163.com"
    result = send(config)
    assert not result.status
    assert SMTP_CODE not in str(result.to_dict()) and "***" in result.deliveries[0].detail
