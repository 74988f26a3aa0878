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

transaction
One mail to RECIPIENTS (200) receivers on one loopback SMTP server (implicit TLS, AUTH,
PIPELINING offered), against one aiosmtplib ``send_message`` with the same recipients:
in process (median of --runs, alternating A B A B) and as whole processes (the st2 action
as the python runner loads it, against a plain aiosmtplib script).  The target is within
1.2x.

latency
The same SMTP server behind testkit/latency_proxy.py, which delays each direction by
--delay (10 ms: a 20 ms round trip; the server itself answers at once): RECIPIENTS
receivers in one notifyByCustom call (one pipelined transaction), against today's
per-recipient mode (one aiosmtplib ``send_message`` per receiver over one session, as
0.4.0 sends), and our per-recipient mode (pipelined, one message each) for comparison.
The sub-second runs are the median of five. The target is at least 50x.

    .venv/bin/python scripts/benchmark.py transaction [--recipients 200] [--runs 15]
    .venv/bin/python scripts/benchmark.py latency [--recipients 200] [--delay 0.01]
    .venv/bin/python scripts/benchmark.py transaction --quick   # a few receivers, 2 runs
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
        # count recipients, not messages: the pack sends one message to many
        if len(dingtalk.received) != runs_total * args.robots \
                or sum(len(m.rcpt_tos) for m in smtp.received) != runs_total * len(recipients):
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


# transaction and latency --------------------------------------------------------------
BASELINE_MANY = """
import asyncio, json, ssl, sys
from email.message import EmailMessage
import aiosmtplib
port, ca, login, code, text = sys.argv[1:6]
recipients = json.loads(sys.argv[6])
async def main():
    message = EmailMessage()
    message["Subject"], message["From"] = "告警", login
    message["To"] = ", ".join(recipients)
    message.set_content(text)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=int(port), use_tls=True,
                               tls_context=ssl.create_default_context(cafile=ca)) as smtp:
        await smtp.login(login, code)
        errors, _ = await smtp.send_message(message, recipients=recipients)
        sys.exit(1 if errors else 0)
asyncio.run(main())
"""


def _smtp_config(port, ca_file, **extra):
    return {"smtp_instances": [dict({"assetname": "bench", "emailUsername": LOGIN,
                                     "emailPassword": CODE, "ca_bundle": ca_file,
                                     "emailSendServer": "127.0.0.1:%d" % port}, **extra)]}


def _mail_params(recipients, **extra):
    return dict({"email": 1, "receivers": recipients, "emailTitle": "告警",
                 "emailcontext": TEXT}, **extra)


def _ours(config, recipients, **extra):
    result = notify_by_custom(_mail_params(recipients, **extra), config)
    if not result.status or len(result.deliveries) != len(recipients):
        raise SystemExit("the pack failed to deliver:\n" + result.message[:2000])


async def _aiosmtplib_one_message(port, ca_file, recipients):
    import aiosmtplib

    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "告警", LOGIN, ", ".join(recipients)
    message.set_content(TEXT)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=True,
                               tls_context=ssl.create_default_context(cafile=ca_file)) as smtp:
        await smtp.login(LOGIN, CODE)
        errors, _ = await smtp.send_message(message, recipients=recipients)
        if errors:
            raise SystemExit("aiosmtplib: refused %r" % errors)


async def _aiosmtplib_per_recipient(port, ca_file, recipients):
    """0.4.0's way: one session, one send_message (MAIL, RCPT, DATA) per receiver."""
    import aiosmtplib

    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=True,
                               tls_context=ssl.create_default_context(cafile=ca_file)) as smtp:
        await smtp.login(LOGIN, CODE)
        for recipient in recipients:
            message = EmailMessage()
            message["Subject"], message["From"], message["To"] = "告警", LOGIN, recipient
            message.set_content(TEXT)
            await smtp.send_message(message)


def _median_alternating(runs, named):
    times = {name: [] for name in named}
    for _ in range(runs + 1):  # the first round warms up, uncounted
        for name, work in named.items():
            started = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values[1:]) for name, values in times.items()}


def transaction(args):
    import asyncio

    ca = make_local_ca()
    recipients = ["oncall%03d@163.com" % i for i in range(args.recipients)]
    paths = [os.path.join(PACK_DIR, "actions", "lib"), os.path.join(PACK_DIR, "actions"),
             os.path.join(PACK_DIR, "tests", "st2_standin")]
    with LocalSmtpServer(ca.server_pem, SmtpBehaviour(accounts={LOGIN: CODE})) as smtp:
        # one transaction, as aiosmtplib's one send_message (the default splits at 100)
        raw = _smtp_config(smtp.port, ca.ca_file,
                           max_recipients_per_message=max(100, args.recipients))
        config = PackConfig.from_mapping(raw)
        print("one mail to %d receivers in one transaction, one loopback SMTP server "
              "(implicit TLS, AUTH, PIPELINING), median of %d runs:"
              % (args.recipients, args.runs))
        inproc = _median_alternating(args.runs, {
            "aiosmtplib send_message": lambda: asyncio.run(
                _aiosmtplib_one_message(smtp.port, ca.ca_file, recipients)),
            "notify_by_custom": lambda: _ours(config, recipients),
        })
        commands = {
            "aiosmtplib script": [sys.executable, "-c", BASELINE_MANY, str(smtp.port),
                                  ca.ca_file, LOGIN, CODE, TEXT, json.dumps(recipients)],
            "notifyByCustom action": [sys.executable, "-c", ACTION, json.dumps(paths),
                                      json.dumps(raw), json.dumps(_mail_params(recipients))],
        }
        whole = _median_alternating(args.runs, {
            name: (lambda c=command: subprocess.run(c, check=True))
            for name, command in commands.items()})
        expected = 4 * (args.runs + 1)
        if len(smtp.received) != expected or any(
                len(m.rcpt_tos) != len(recipients) for m in smtp.received):
            raise SystemExit("the server received %d mails, not %d of %d recipients each"
                             % (len(smtp.received), expected, len(recipients)))
    ca.cleanup()
    for label, medians in (("in process", inproc), ("whole process", whole)):
        (base_name, base), (ours_name, ours) = medians.items()
        print("%-14s %-24s %7.1f ms   %-22s %7.1f ms   ratio %.2fx (target <= 1.2x)"
              % (label + ":", base_name, base * 1000, ours_name, ours * 1000, ours / base))
    return 0


def latency(args):
    import asyncio

    from testkit.latency_proxy import LatencyProxy

    ca = make_local_ca()
    recipients = ["oncall%03d@163.com" % i for i in range(args.recipients)]
    with LocalSmtpServer(ca.server_pem, SmtpBehaviour(accounts={LOGIN: CODE})) as smtp, \
            LatencyProxy(smtp.port, delay=args.delay) as proxy:
        config = PackConfig.from_mapping(_smtp_config(
            proxy.port, ca.ca_file, max_recipients_per_message=max(100, args.recipients)))
        default = PackConfig.from_mapping(_smtp_config(proxy.port, ca.ca_file))
        print("%d receivers through a proxy delaying each direction by %g ms (%g ms round "
              "trip), SMTP on 127.0.0.1 (implicit TLS, AUTH, PIPELINING):"
              % (args.recipients, args.delay * 1000, args.delay * 2000))
        runs = {
            "today's per-recipient mode (aiosmtplib send_message each)": lambda: asyncio.run(
                _aiosmtplib_per_recipient(proxy.port, ca.ca_file, recipients)),
            "notify_by_custom, emailPerRecipient (pipelined)": lambda: _ours(
                config, recipients, emailPerRecipient=True),
            "notify_by_custom, one transaction": lambda: _ours(config, recipients),
            "notify_by_custom, default (100 per transaction)": lambda: _ours(default,
                                                                             recipients),
        }
        seconds = {}
        for name, work in runs.items():
            # the sub-second runs: the median of five, so that one stall of a shared
            # machine does not decide the ratio; the long ones once
            repeat = 1 if "per-recipient" in name or "emailPerRecipient" in name else 5
            times = []
            for _ in range(repeat):
                before = len(smtp.received)
                started = time.perf_counter()
                work()
                times.append(time.perf_counter() - started)
                got = sum(len(m.rcpt_tos) for m in smtp.received[before:])
                if got != len(recipients):
                    raise SystemExit("%s: the server got %d of %d recipients"
                                     % (name, got, len(recipients)))
            seconds[name] = statistics.median(times)
            print("%-58s %7.2f s  (%d messages%s)" % (
                name + ":", seconds[name], len(smtp.received) - before,
                ", median of %d runs" % repeat if repeat > 1 else ""))
    ca.cleanup()
    today, per_recipient, ours, split = seconds.values()
    print("ratio: one transaction %.1fx faster than today's per-recipient mode (target >= 50x);"
          " default split %.1fx; pipelined per-recipient %.1fx"
          % (today / ours, today / split, today / per_recipient))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", nargs="?",
                        choices=("fanout", "one-mail", "transaction", "latency"),
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
    parser.add_argument("--runs", type=int, default=15,
                        help="one-mail, transaction: counted runs of each")
    parser.add_argument("--delay", type=float, default=0.01,
                        help="latency: seconds the proxy adds in each direction")
    parser.add_argument("--quick", action="store_true",
                        help="a few receivers and runs: checks that the benchmark runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.recipients, args.runs, args.robots = 5, 1, 2
        args.delay = min(args.delay, 0.002)
        args.latency = min(args.latency, 0.002)
    benchmarks = {"one-mail": one_mail, "transaction": transaction, "latency": latency,
                  "fanout": fanout}
    return benchmarks[args.benchmark](args)


if __name__ == "__main__":
    sys.exit(main())
