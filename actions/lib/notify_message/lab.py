"""``python -m notify_message lab``: every channel on this machine, to try by hand.

Starts the loopback servers of the pack's ``testkit/`` (the ones the tests use: an SMTP
server with implicit TLS and AUTH, a DingTalk robot server, an Alibaba Cloud SMS / voice
gateway, each a child process on 127.0.0.1), writes a pack config for them with a throwaway
CA into a directory (``--dir``, default ``.lab``), prints a command for every channel and
both notification actions, then prints one line per message a server receives until Ctrl-C.

The servers live in the pack's clone, not in the library: the lab finds ``testkit/`` next to
``actions/`` (from this file's path) and needs the test requirements (aiosmtpd, trustme).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import secrets
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:  # testkit is imported when the lab starts, once it is known to be there
    from testkit.aliyun_server import LocalAliyunServer
    from testkit.dingtalk_server import LocalDingTalkServer
    from testkit.smtp_server import LocalSmtpServer

__all__ = ["Lab", "LabCommand", "LabUnavailable", "lab_main", "PACK_DIR", "SETUP_COMMAND"]

# actions/lib/notify_message -> the pack's clone, where testkit/ sits next to actions/
PACK_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         os.pardir, os.pardir, os.pardir))
SETUP_COMMAND = ".venv/bin/pip install -q -r requirements.txt -r requirements-tests.txt"
CONFIG_NAME = "notify_message.yaml"
POLL_SECONDS = 0.2

# who the lab's config says is who: the names the docs' examples use (soc-163, soc-oncall,
# oncall), so that they run against the lab; passwords and keys are made up at every start
SMTP_LOGIN = "soc-alerts@163.com"
ROBOT, ROBOT_TOKEN_BYTES = "soc-oncall", 32
ALIUID = "1766000000000000"
SIGN_NAME, SMS_TEMPLATE, TTS_TEMPLATE = "云安全中心", "SMS_460000001", "TTS_460000001"
SHOW_NUMBER = "057112345678"


class LabUnavailable(Exception):
    """The lab cannot start here: testkit/ or the test requirements are missing."""


@dataclass(frozen=True)
class LabCommand:
    """One command the lab prints: the channel it tries, the action and its parameters, and
    the server that must receive it (``smtp``, ``dingtalk``, ``aliyun``; several for
    Message Center)."""

    label: str
    action: str
    params: tuple[tuple[str, str], ...]
    receivers: tuple[str, ...]

    def argv(self, config_path: str) -> list[str]:
        words = ["--config", config_path, self.action]
        for name, value in self.params:
            words += ["--param", f"{name}={value}"]
        return words

    def shell(self, python: str, library: str, config_path: str) -> str:
        """The command as one line to paste into a POSIX shell."""
        words = [python, "-m", "notify_message", *self.argv(config_path)]
        return f"PYTHONPATH={shlex.quote(library)} " + " ".join(shlex.quote(w) for w in words)


@dataclass
class _Seen:
    smtp: int = 0
    dingtalk: int = 0
    aliyun: int = 0


@dataclass
class Lab:
    """The three servers and the config pointing at them: ``with Lab(directory) as lab:``
    -> ``lab.config_path``, ``lab.commands``, ``lab.received()`` (new lines since the last
    call).  Leaving the block stops the servers; the config stays (it names dead ports)."""

    directory: str
    config_path: str = ""
    commands: list[LabCommand] = field(default_factory=list)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _smtp: LocalSmtpServer | None = None
    _dingtalk: LocalDingTalkServer | None = None
    _aliyun: LocalAliyunServer | None = None
    _robots: dict[str, str] = field(default_factory=dict)   # token -> robot name
    _seen: _Seen = field(default_factory=_Seen)

    def __enter__(self) -> Lab:
        _check_available()
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        from testkit.aliyun_server import AliyunBehaviour, LocalAliyunServer
        from testkit.dingtalk_server import FakeRobot, LocalDingTalkServer
        from testkit.smtp_server import LocalSmtpServer, SmtpBehaviour
        from testkit.tls import make_local_ca

        os.makedirs(self.directory, exist_ok=True)
        ca = make_local_ca()
        self._stack.callback(ca.cleanup)
        ca_file = os.path.join(self.directory, "ca.pem")
        shutil.copyfile(ca.ca_file, ca_file)   # the config outlives the CA's temp folder

        code = secrets.token_urlsafe(12)
        token = secrets.token_hex(ROBOT_TOKEN_BYTES)
        robot_secret = "SEC" + secrets.token_hex(32)
        key_id, key_secret = "LTAI" + secrets.token_hex(8), secrets.token_urlsafe(22)
        self._robots = {token: ROBOT}

        self._smtp = self._stack.enter_context(
            LocalSmtpServer(ca.server_pem, SmtpBehaviour(accounts={SMTP_LOGIN: code})))
        self._dingtalk = self._stack.enter_context(
            LocalDingTalkServer(ca.server_pem, [FakeRobot(token, secret=robot_secret)]))
        self._aliyun = self._stack.enter_context(
            LocalAliyunServer(AliyunBehaviour(accounts={key_id: key_secret},
                                              sign_names=(SIGN_NAME,),
                                              show_numbers=(SHOW_NUMBER,)),
                              ca.server_pem))
        config = {
            "smtp_instances": [{
                "assetname": "soc-163", "emailSendServer": f"127.0.0.1:{self._smtp.port}",
                "emailUsername": SMTP_LOGIN, "emailPassword": code, "ca_bundle": ca_file,
                "timeout": 10, "default": True}],
            "dingtalk_robots": [{"name": ROBOT, "webhook": self._dingtalk.webhook(token),
                                 "secret": robot_secret, "default": True}],
            "dingtalk_allowed_hosts": [self._dingtalk.host],
            "dingtalk_ca_bundle": ca_file,
            "aliyun": {
                "access_key_id": key_id, "access_key_secret": key_secret,
                "endpoints": {"dysmsapi": self._aliyun.url, "dyvmsapi": self._aliyun.url},
                "allowed_endpoint_hosts": ["127.0.0.1"], "ca_bundle": ca_file},
            "sms_profiles": [{
                "name": "oncall", "sign_name": SIGN_NAME, "template_code": SMS_TEMPLATE,
                "template_param": "content", "default": True,
                "voice": {"tts_code": TTS_TEMPLATE, "tts_param": "content",
                          "show_number": SHOW_NUMBER}}],
            "message_center": {"provider": "local", "recipients": [{
                "aliuid": ALIUID,
                "contacts": [{"name": "SOC on call", "email": "oncall@example.com",
                              "mobile": "13700137000"}],
                "webhooks": [ROBOT],
                "subscriptions": {"default": {"email": "on", "sms": "on", "webhook": "on",
                                              "pmsg": "on"}}}]},
        }
        self.config_path = os.path.join(self.directory, CONFIG_NAME)
        _write_config(self.config_path, config)
        self.commands = _commands()

    def servers(self) -> dict[str, str]:
        """Where each server listens, for the banner."""
        if self._smtp is None or self._dingtalk is None or self._aliyun is None:
            raise RuntimeError("the lab is not running")
        return {"smtp": f"127.0.0.1:{self._smtp.port} (SMTP, implicit TLS, AUTH)",
                "dingtalk": f"https://{self._dingtalk.host}/robot/send (DingTalk robots)",
                "aliyun": f"{self._aliyun.url} (Alibaba Cloud SMS and voice)"}

    def received(self) -> list[tuple[str, str]]:
        """(server, one line) for every message received since the last call."""
        if self._smtp is None or self._dingtalk is None or self._aliyun is None:
            raise RuntimeError("the lab is not running")
        lines: list[tuple[str, str]] = []
        mails = self._smtp.received
        for mail in mails[self._seen.smtp:]:
            subject = mail.message.get("Subject", "")
            lines.append(("smtp", f"{mail.mail_from} -> {', '.join(mail.rcpt_tos)}: "
                                  f"{_short(str(subject))}"))
        self._seen.smtp = len(mails)
        messages = self._dingtalk.received
        for message in messages[self._seen.dingtalk:]:
            robot = self._robots.get(message.token, "unknown robot")
            signed = "signed" if message.signed else "unsigned"
            lines.append(("dingtalk", f"{robot} ({signed}) {message.body.get('msgtype')}: "
                                      f"{_short(_dingtalk_text(message.body))}"))
        self._seen.dingtalk = len(messages)
        calls = self._aliyun.received
        for call in calls[self._seen.aliyun:]:
            params = call.params
            if call.action == "SendSms":
                line = (f"SendSms to {params.get('PhoneNumbers', '')}: "
                        f"{_short(params.get('TemplateParam', ''))}")
            elif call.action == "SingleCallByTts":
                line = (f"SingleCallByTts to {params.get('CalledNumber', '')}: "
                        f"{_short(params.get('TtsParam', ''))}")
            else:
                line = call.action
            lines.append(("aliyun", line))
        self._seen.aliyun = len(calls)
        return lines


def _commands() -> list[LabCommand]:
    return [
        LabCommand("email", "notifyByCustom", (
            ("email", "1"), ("receivers", "oncall@example.com,lead@example.com"),
            ("emailTitle", "告警: brute force on web-01"),
            ("emailcontext", "Host web-01: 300 failed logins in 5 minutes")), ("smtp",)),
        LabCommand("DingTalk", "notifyByCustom", (
            ("dingding", "1"), ("dingdingWebhooks", ROBOT), ("dingdingMsgType", "markdown"),
            # the JSON form keeps the command on one line; its \n are the markdown's lines
            ("dingdingcontext", json.dumps({"title": "告警: brute force",
                                            "text": "## 告警: brute force\n- host: web-01\n"
                                                    "- failed logins: 300"},
                                           ensure_ascii=False))),
            ("dingtalk",)),
        LabCommand("SMS", "notifyByCustom", (
            ("telephone", "13800138000"), ("sms", "1"),
            ("smscontext", "web-01: brute force blocked")), ("aliyun",)),
        LabCommand("voice call", "notifyByCustom", (
            ("telephone", "13900139000"), ("sms", "0"),
            ("telephonecontext", "web-01 is under attack, please check")), ("aliyun",)),
        LabCommand("Message Center (email, SMS, DingTalk webhook, internal message)",
                   "notifyByMessageCenter", (
                       ("aliuid", ALIUID), ("eventId", "yundun_soar_incident_generate"),
                       ("params", json.dumps({"incidentName": "Brute force",
                                              "incidentID": "inc-7",
                                              "startTime": "2025-02-03 00:00:00"}))),
                   ("smtp", "dingtalk", "aliyun")),
    ]


def _write_config(path: str, config: dict[str, Any]) -> None:
    try:
        import yaml
        text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    except ImportError:  # JSON is YAML too
        text = json.dumps(config, ensure_ascii=False, indent=2) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Written by `python -m notify_message lab` for its loopback servers; the\n"
                "# passwords and keys are made up and change every time the lab starts.\n")
        f.write(text)


def _dingtalk_text(body: dict[str, Any]) -> str:
    payload = body.get(str(body.get("msgtype")))
    if isinstance(payload, dict):
        for key in ("title", "content", "text"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
    return ""


def _short(text: str, width: int = 90) -> str:
    """One printable line: what a server received is whatever was sent, escapes included."""
    line = "".join(c if c.isprintable() else " " for c in " ".join(text.split()))
    return line if len(line) <= width else line[:width - 3] + "..."


def _check_available() -> None:
    if not os.path.isfile(os.path.join(PACK_DIR, "testkit", "child.py")):
        raise LabUnavailable(
            f"the lab runs the loopback servers of the pack's testkit/, which is not next to "
            f"actions/ here ({PACK_DIR}): run it from a clone of the pack, after "
            f"{SETUP_COMMAND}")
    missing = []
    for name in ("aiosmtpd", "trustme"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise LabUnavailable(
            f"the lab needs the test requirements ({', '.join(missing)} missing): run "
            f"{SETUP_COMMAND} in {PACK_DIR}")
    if PACK_DIR not in sys.path:
        sys.path.append(PACK_DIR)   # testkit is a package at the clone's top


# --- the command ---------------------------------------------------------------------------

def lab_main(argv: Sequence[str], prog: str, out: IO[str] | None = None) -> int:
    """Run the lab until Ctrl-C (or SIGTERM): 0 when stopped that way; 2, after one line on
    standard error, when it cannot start (testkit/ or the test requirements missing)."""
    try:
        args = _Parser(prog=f"{prog} lab", description=_SUMMARY).parse_args(argv)
        return _run(os.path.abspath(args.dir), out or sys.stdout)
    except LabUnavailable as exc:
        return _error(prog, str(exc))
    except BrokenPipeError:  # `lab | head`: the servers are stopped by now
        _discard_stdout()
        return _error(prog, "standard output was closed (broken pipe): the lab stopped")
    except KeyboardInterrupt:  # Ctrl-C before the servers started: nothing to stop
        return 0


def _error(prog: str, message: str) -> int:
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.stderr.flush()
    return 2


def _discard_stdout() -> None:
    from .cli import _discard_stdout as discard  # the command line's, which runs the lab
    discard()


_SUMMARY = ("Start loopback SMTP, DingTalk and Alibaba Cloud servers, write a pack config for "
            "them and print a command for every channel; Ctrl-C stops them.")


class _Parser(argparse.ArgumentParser):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_argument("--dir", default=".lab",
                          help="where to write the config and the CA (default: .lab)")

    def error(self, message: str) -> NoReturn:
        raise LabUnavailable(f"{message} (see {self.prog} --help)")


def _run(directory: str, stream: IO[str]) -> int:
    """Ctrl-C reaches the terminal's whole process group: the child servers are started
    with SIGINT ignored (they inherit that, and Python keeps an ignored SIGINT), so only
    this process hears it and stops them in order.  SIGINT and SIGTERM then set a flag that
    the loop reads between two looks at the servers."""
    stop: list[int] = []

    def ask(signum: int, frame: FrameType | None) -> None:
        stop.append(signum)

    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, ask)
    try:
        with Lab(directory) as lab:
            signal.signal(signal.SIGINT, ask)
            _print_banner(lab, stream)
            while not stop:
                for server, line in lab.received():
                    stream.write(f"{time.strftime('%H:%M:%S')} {server:<8} {line}\n")
                stream.flush()
                time.sleep(POLL_SECONDS)
        stream.write("lab stopped: the servers are stopped\n")
        stream.flush()
        return 0
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


def _print_banner(lab: Lab, stream: IO[str]) -> None:
    cwd = os.getcwd()
    python, library = _display(sys.executable, cwd), _display(
        os.path.join(PACK_DIR, "actions", "lib"), cwd)
    config = _display(lab.config_path, cwd)
    stream.write("notify_message lab: loopback servers on 127.0.0.1\n")
    for name, where in lab.servers().items():
        stream.write(f"  {name:<8} {where}\n")
    stream.write(f"  config   {config}\n\n")
    stream.write("Try every channel (from this directory, in another terminal):\n\n")
    for command in lab.commands:
        stream.write(f"# {command.label}\n{command.shell(python, library, config)}\n\n")
    stream.write("Received (Ctrl-C stops the lab):\n")
    stream.flush()


def _display(path: str, cwd: str) -> str:
    """A path as the user would type it: relative when it is under this directory."""
    relative = os.path.relpath(path, cwd)
    return relative if not relative.startswith(os.pardir) else path
