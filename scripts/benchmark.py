"""Benchmark: one notification fan-out, sent by a naive sequential sender and by the pack.

Starts, on 127.0.0.1 only, a DingTalk server (HTTPS, signed robots, LATENCY added to every
request) and an SMTP server (implicit TLS, AUTH, LATENCY added to every MAIL, RCPT and
DATA command), then sends the same fan-out - ROBOTS signed robots and RECIPIENTS mail
recipients - twice:

  naive  what a naive pack does: one after the other, a new HTTPS connection per robot
         (httpx.post) and a new SMTP connection + login per message (smtplib.SMTP_SSL);
  pack   notify_message's notify_by_custom: every robot and SMTP session concurrently
         within max_concurrency, one keep-alive HTTP client; run twice, with the SMTP
         instance's default max_sessions 1 (one login carries every message) and with
         --max-sessions parallel sessions.

Every run is checked to have delivered everything; the script prints the times and ratios.

    .venv/bin/python scripts/benchmark.py [--robots 50] [--recipients 200] [--latency 0.02]
                                          [--max-concurrency 10] [--max-sessions 4]
"""

from __future__ import annotations

import argparse
import os
import smtplib
import ssl
import sys
import time
from email.message import EmailMessage

import httpx

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(PACK_DIR, "actions", "lib"), PACK_DIR]

from notify_message import PackConfig, notify_by_custom  # noqa: E402
from notify_message.channels.dingtalk.protocol import signed_query  # noqa: E402
from testkit.dingtalk_server import DingTalkBehaviour, FakeRobot, LocalDingTalkServer  # noqa: E402
from testkit.smtp_server import LocalSmtpServer, SmtpBehaviour  # noqa: E402
from testkit.tls import make_local_ca  # noqa: E402

LOGIN, CODE = "soc-alerts@163.com", "BenchAuthCode2026"
TEXT = "【告警】暴力破解 web-01: 203.0.113.9, 1200 failed logins in 5 minutes"


def naive_send(robots, recipients, smtp_port, ca_file):
    """Sequential, as a naive pack sends: one request, one connection at a time."""
    trust = ssl.create_default_context(cafile=ca_file)
    delivered = 0
    for robot in robots:
        url = robot["webhook"] + "&" + signed_query(robot["secret"], int(time.time() * 1000))
        answer = httpx.post(url, json={"msgtype": "text", "text": {"content": TEXT}},
                            verify=trust)
        delivered += answer.json()["errcode"] == 0
    for recipient in recipients:
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = "告警", LOGIN, recipient
        message.set_content(TEXT)
        with smtplib.SMTP_SSL("127.0.0.1", smtp_port, context=trust) as smtp:
            smtp.login(LOGIN, CODE)
            smtp.send_message(message)
            delivered += 1
    return delivered


def pack_send(config, robots, recipients):
    result = notify_by_custom({
        "dingdingWebhooks": [r["name"] for r in robots], "dingdingcontext": TEXT,
        "email": 1, "receivers": recipients, "emailTitle": "告警", "emailcontext": TEXT,
    }, config)
    if not result.status:
        raise SystemExit("the pack failed to deliver:\n" + result.message)
    return len(result.deliveries)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--robots", type=int, default=50)
    parser.add_argument("--recipients", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.02,
                        help="seconds per DingTalk request and per SMTP MAIL/RCPT/DATA")
    parser.add_argument("--max-concurrency", type=int, default=10,
                        help="the pack's max_concurrency (its default is 10)")
    parser.add_argument("--max-sessions", type=int, default=4,
                        help="also run the pack with this SMTP instance max_sessions (its "
                             "default is 1: one login per call)")
    args = parser.parse_args(argv)

    ca = make_local_ca()
    fake_robots = [FakeRobot("bench-token-%03d" % i, secret="SECbench%03d" % i)
                   for i in range(args.robots)]
    recipients = ["oncall%03d@163.com" % i for i in range(args.recipients)]
    smtp_behaviour = SmtpBehaviour(accounts={LOGIN: CODE}, latency=args.latency)
    with LocalDingTalkServer(ca.server_pem, fake_robots,
                             DingTalkBehaviour(latency=args.latency)) as dingtalk, \
            LocalSmtpServer(ca.server_pem, smtp_behaviour) as smtp:
        robots = [{"name": "robot-%03d" % i, "webhook": dingtalk.webhook(r.token),
                   "secret": r.secret} for i, r in enumerate(fake_robots)]

        def config(max_sessions):
            return PackConfig.from_mapping({
                "dingtalk_robots": robots,
                "dingtalk_allowed_hosts": [dingtalk.host],
                "dingtalk_ca_bundle": ca.ca_file,
                "smtp_instances": [{"assetname": "bench", "emailUsername": LOGIN,
                                    "emailPassword": CODE, "ca_bundle": ca.ca_file,
                                    "emailSendServer": "127.0.0.1:%d" % smtp.port,
                                    "max_sessions": max_sessions}],
                "max_concurrency": args.max_concurrency,
            })

        total = args.robots + args.recipients
        print("fan-out: %d DingTalk robots + %d mail recipients, %g ms per DingTalk request "
              "and per SMTP MAIL/RCPT/DATA, on 127.0.0.1"
              % (args.robots, args.recipients, args.latency * 1000))

        started = time.perf_counter()
        naive = naive_send(robots, recipients, smtp.port, ca.ca_file)
        naive_seconds = time.perf_counter() - started
        print("naive sequential sender:  %6.2f s  (%d/%d delivered, %d SMTP sessions)"
              % (naive_seconds, naive, total, smtp.sessions))

        runs = [1] if args.max_sessions == 1 else [1, args.max_sessions]
        ratios = []
        for max_sessions in runs:
            sessions_before, connections_before = smtp.sessions, dingtalk.connections
            started = time.perf_counter()
            ours = pack_send(config(max_sessions), robots, recipients)
            pack_seconds = time.perf_counter() - started
            label = "notify_by_custom, max_sessions %d:" % max_sessions
            print("%-34s %6.2f s  (%d/%d delivered, %d SMTP sessions, %d HTTPS connections "
                  "for %d robots)" % (label, pack_seconds, ours, total,
                                      smtp.sessions - sessions_before,
                                      dingtalk.connections - connections_before, args.robots))
            ratios.append((max_sessions, naive_seconds / pack_seconds))
        runs_total = 1 + len(runs)
        if len(dingtalk.received) != runs_total * args.robots \
                or len(smtp.received) != runs_total * len(recipients):
            raise SystemExit("the servers did not receive every message")
    ca.cleanup()
    for max_sessions, ratio in ratios:
        print("ratio (max_sessions %d): %.1fx faster than the naive sender" % (max_sessions, ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
