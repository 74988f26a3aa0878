"""Benchmarks on loopback servers, each a baseline and the pack in one run, with the ratio.

fan-out (the default)
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

    .venv/bin/python scripts/benchmark.py [fanout] [--robots 50] [--recipients 200]
                       [--latency 0.02] [--max-concurrency 10] [--max-sessions 4]

one-mail
StackStorm runs every execution in a new process, so import cost is part of every
notification.  Times, as whole processes on one SMTP server (implicit TLS, AUTH), alternating
A B A B: the st2 action notifyByCustom importing and running as the python runner does
(its module, the base action, one mail), against a plain script that imports aiosmtplib and
sends the same mail.  Prints the medians, their ratio, and the import time of the action
module (python -X importtime).

    .venv/bin/python scripts/benchmark.py one-mail [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import ssl
import statistics
import subprocess
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


def fanout(args):
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


# one-mail: the two whole processes
BASELINE = """
import asyncio, ssl, sys
from email.message import EmailMessage
import aiosmtplib
port, ca, login, code, text = sys.argv[1:6]
async def main():
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "告警", login, "oncall@163.com"
    message.set_content(text)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=int(port), use_tls=True,
                               tls_context=ssl.create_default_context(cafile=ca)) as smtp:
        await smtp.login(login, code)
        await smtp.send_message(message)
asyncio.run(main())
"""
ACTION = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])     # what st2 puts on an action's path
from notifyByCustom import NotifyByCustomAction
status, result = NotifyByCustomAction(config=json.loads(sys.argv[2])).run(**json.loads(sys.argv[3]))
sys.exit(0 if status else 1)
"""


def one_mail(args):
    ca = make_local_ca()
    paths = [os.path.join(PACK_DIR, "actions", "lib"), os.path.join(PACK_DIR, "actions"),
             os.path.join(PACK_DIR, "tests", "st2_standin")]
    with LocalSmtpServer(ca.server_pem, SmtpBehaviour(accounts={LOGIN: CODE})) as smtp:
        config = {"smtp_instances": [{"assetname": "bench", "emailUsername": LOGIN,
                                      "emailPassword": CODE, "ca_bundle": ca.ca_file,
                                      "emailSendServer": "127.0.0.1:%d" % smtp.port}]}
        params = {"email": 1, "receivers": "oncall@163.com", "emailTitle": "告警",
                  "emailcontext": TEXT}
        commands = {
            "plain aiosmtplib script": [sys.executable, "-c", BASELINE, str(smtp.port),
                                        ca.ca_file, LOGIN, CODE, TEXT],
            "notifyByCustom action": [sys.executable, "-c", ACTION, json.dumps(paths),
                                      json.dumps(config), json.dumps(params)],
        }
        times = {name: [] for name in commands}
        for _ in range(args.runs + 1):  # the first round warms the caches up, uncounted
            for name, command in commands.items():
                started = time.perf_counter()
                subprocess.run(command, check=True)
                times[name].append(time.perf_counter() - started)
        expected = len(commands) * (args.runs + 1)
        received = len(smtp.received)
        if received != expected:
            raise SystemExit("the server received %d mails, not %d" % (received, expected))
        importtime = subprocess.run(
            [sys.executable, "-X", "importtime", "-c",
             "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); import notifyByCustom",
             json.dumps(paths)], capture_output=True, text=True, check=True).stderr
    ca.cleanup()
    action_import = int(importtime.strip().splitlines()[-1].split("|")[1])
    print("one mail as a whole process (implicit TLS, AUTH, on 127.0.0.1), median of %d runs:"
          % args.runs)
    medians = {name: statistics.median(values[1:]) for name, values in times.items()}
    for name, median in medians.items():
        print("%-26s %6.1f ms" % (name + ":", median * 1000))
    baseline, ours = medians.values()
    print("ratio: %.2fx the plain aiosmtplib script" % (ours / baseline))
    print("import notifyByCustom (python -X importtime, cumulative): %.1f ms"
          % (action_import / 1000))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", nargs="?", choices=("fanout", "one-mail"),
                        default="fanout")
    parser.add_argument("--robots", type=int, default=50)
    parser.add_argument("--recipients", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.02,
                        help="seconds per DingTalk request and per SMTP MAIL/RCPT/DATA")
    parser.add_argument("--max-concurrency", type=int, default=10,
                        help="the pack's max_concurrency (its default is 10)")
    parser.add_argument("--max-sessions", type=int, default=4,
                        help="also run the pack with this SMTP instance max_sessions (its "
                             "default is 1: one login per call)")
    parser.add_argument("--runs", type=int, default=15, help="one-mail: counted runs of each")
    args = parser.parse_args(argv)
    return one_mail(args) if args.benchmark == "one-mail" else fanout(args)


if __name__ == "__main__":
    sys.exit(main())
