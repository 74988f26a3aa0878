"""One call fans out concurrently within max_concurrency: every robot and every SMTP session
at once, over one keep-alive HTTP client."""

from helpers import dingtalk_config, dingtalk_robot, smtp_instance

from notify_message import notify_by_custom
from testkit.dingtalk_server import FakeRobot


def robots_on(server, count):
    for i in range(count):
        server.add_robot(FakeRobot("token-%02d" % i))
    return [dingtalk_robot(server, "robot-%02d" % i, "token-%02d" % i) for i in range(count)]


def test_robots_are_sent_concurrently_up_to_max_concurrency(dingtalk_server, local_ca):
    server = dingtalk_server(latency=0.1)
    config = dingtalk_config(server, local_ca, *robots_on(server, 12), max_concurrency=4)
    names = ["robot-%02d" % i for i in range(12)]
    result = notify_by_custom({"dingdingWebhooks": names, "dingdingcontext": "告警"}, config)
    assert result.status and [d.target for d in result.deliveries] == names
    # the server counts what it handles at once: one after the other would be 1, unbounded 12
    assert server.requests == 12 and server.max_in_flight == 4


def test_robots_share_keep_alive_connections(dingtalk_server, local_ca):
    server = dingtalk_server(latency=0.02)
    config = dingtalk_config(server, local_ca, *robots_on(server, 12), max_concurrency=3)
    result = notify_by_custom({"dingdingWebhooks": ["robot-%02d" % i for i in range(12)],
                               "dingdingcontext": "告警"}, config)
    assert result.status and server.requests == 12
    assert server.connections <= 3


def test_a_large_mailing_runs_over_parallel_sessions_in_recipient_order(smtp_server, local_ca):
    server = smtp_server()
    config = {"smtp_instances": [smtp_instance(server, local_ca, max_sessions=3)]}
    receivers = ["r%02d@163.com" % i for i in range(60)]
    result = notify_by_custom({"email": 1, "receivers": receivers, "emailcontext": "x",
                               "emailPerRecipient": True}, config)
    assert result.status and [d.target for d in result.deliveries] == receivers
    assert server.sessions == 3
    assert sorted(m.rcpt_tos[0] for m in server.received) == receivers


def test_email_and_dingtalk_go_out_at_the_same_time(smtp_server, dingtalk_server, local_ca):
    smtp = smtp_server(latency=0.1)  # MAIL, RCPT and DATA: 0.3 s for the message
    dingtalk = dingtalk_server(latency=0.3)
    config = dingtalk_config(dingtalk, local_ca, *robots_on(dingtalk, 1),
                             smtp_instances=[smtp_instance(smtp, local_ca)])
    result = notify_by_custom({"email": 1, "receivers": "oncall@163.com", "emailcontext": "告警",
                               "dingding": 1, "dingdingcontext": "告警"}, config)
    assert result.status and [d.channel for d in result.deliveries] == ["email", "dingtalk"]
    assert len(smtp.received) == 1 and len(dingtalk.received) == 1
    # the servers' clocks: the robot's request arrived while the SMTP session was under way.
    # Email first would bring it after the message was accepted; DingTalk first would start
    # the session only after the robot's 0.3 s answer.
    [session], [accepted], [posted] = smtp.session_times, smtp.mail_times, dingtalk.request_times
    assert posted < accepted and session < posted + 0.3
