"""``python -m notify_message lab`` as a user runs it: started in a process of its own, every
command it prints is run as printed and received by the right server, and Ctrl-C (sent to
the whole process group, as a terminal does) stops it and its servers cleanly."""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import PACK_DIR

LIBRARY = os.path.join(PACK_DIR, "actions", "lib")
# what each printed command must reach, and what the lab's line says for it (our own table,
# not the lab's: the labels are the channels the issue asks for)
EXPECTED = {
    # one message to both receivers: one SMTP transaction carries every RCPT
    "email": [("smtp", "oncall@example.com, lead@example.com")],
    "DingTalk": [("dingtalk", "soc-oncall (signed) markdown")],
    "SMS": [("aliyun", "SendSms to 13800138000")],
    "voice call": [("aliyun", "SingleCallByTts to 13900139000")],
    "Message Center": [("smtp", "oncall@example.com"), ("dingtalk", "soc-oncall (signed)"),
                       ("aliyun", "SendSms to 13700137000")],
}
RECEIVED_LINE = re.compile(r"^\d\d:\d\d:\d\d (\w+)\s+(.*)$")


def lab_env():
    return dict(os.environ, PYTHONPATH=LIBRARY, PYTHONUNBUFFERED="1")


class LabProcess:
    """The lab in a new session (its own process group), its standard output read line by
    line with select: no reader thread, which under st2's eventlet patching would be a green
    thread blocking the whole test process on the pipe."""

    def __init__(self, directory):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "notify_message", "lab", "--dir", directory],
            cwd=PACK_DIR, env=lab_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        self._buffer = b""

    def next_line(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the lab printed nothing for %s s" % timeout
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 65536)
                assert chunk, "the lab ended: %s" % self.stderr()
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8")

    def stderr(self):
        return self.process.stderr.read().decode("utf-8", "replace")

    def banner(self):
        """(label, command) for every command, once the lab says it is listening."""
        commands, label = [], None
        while True:
            line = self.next_line(timeout=60.0)
            if line.startswith("Received"):
                return commands
            if line.startswith("# "):
                label = line[2:]
            elif line.startswith("PYTHONPATH="):
                commands.append((label, line))

    def children(self):
        return [int(pid) for pid in os.listdir("/proc") if pid.isdigit()
                and _parent_of(int(pid)) == self.process.pid]

    def kill(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


def _parent_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def lab(tmp_path):
    running = LabProcess(str(tmp_path / "lab"))
    yield running
    running.kill()


def test_every_printed_command_succeeds_and_reaches_its_server(lab, tmp_path):
    commands = lab.banner()
    labels = [label.split(" (")[0] for label, _ in commands]
    assert labels == list(EXPECTED)
    assert {re.search(r" (notifyBy\w+) ", c).group(1) for _, c in commands} == {
        "notifyByCustom", "notifyByMessageCenter"}
    config = tmp_path / "lab" / "notify_message.yaml"
    assert config.is_file() and (tmp_path / "lab" / "ca.pem").is_file()
    assert "--config %s" % config in commands[0][1]

    for label, command in commands:
        done = subprocess.run(command, shell=True, cwd=PACK_DIR, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, (label, done.stdout, done.stderr)
        assert json.loads(done.stdout)["status"] is True, (label, done.stdout)
        expected = list(EXPECTED[label.split(" (")[0]])
        while expected:   # the lab shows each message as it arrives, in whatever order
            match = RECEIVED_LINE.match(lab.next_line())
            assert match, "not a received line"
            server, text = match.groups()
            hit = [e for e in expected if e[0] == server and e[1] in text]
            assert hit, (label, server, text, expected)
            expected.remove(hit[0])

    children = lab.children()
    assert len(children) == 3, children          # SMTP, DingTalk, Alibaba Cloud
    os.killpg(lab.process.pid, signal.SIGINT)     # Ctrl-C in a terminal: the whole group
    assert lab.process.wait(timeout=20) == 0
    assert lab.next_line().startswith("lab stopped")
    assert lab.stderr() == ""                    # no traceback, from the lab or a server
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if _alive(pid)]


def test_sigterm_stops_the_lab_too(lab):
    lab.banner()
    children = lab.children()
    assert children
    lab.process.terminate()
    assert lab.process.wait(timeout=20) == 0
    assert lab.stderr() == ""
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if _alive(pid)]


def _one_line_error(done):
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("python -m notify_message: error: ")
    return lines[0]


def test_without_the_test_requirements_one_line_names_the_set_up_command(tmp_path):
    code = ("import sys; sys.modules['aiosmtpd'] = None; "
            "from notify_message.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "lab", "--dir", str(tmp_path)],
                          cwd=PACK_DIR, env=lab_env(), capture_output=True, text=True,
                          timeout=60)
    line = _one_line_error(done)
    assert "aiosmtpd" in line and "trustme" not in line
    assert "pip install -q -r requirements.txt -r requirements-tests.txt" in line
    assert os.listdir(tmp_path) == []


def test_without_testkit_one_line_says_where_it_looked(tmp_path):
    library = tmp_path / "actions" / "lib"
    shutil.copytree(os.path.join(LIBRARY, "notify_message"), library / "notify_message",
                    ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "notify_message", "lab"], cwd=tmp_path,
                          env=dict(lab_env(), PYTHONPATH=str(library)),
                          capture_output=True, text=True, timeout=60)
    line = _one_line_error(done)
    assert "testkit/" in line and str(tmp_path) in line and "pip install" in line
    assert not (tmp_path / ".lab").exists()


def test_a_wrong_option_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "notify_message", "lab", "--port", "1"],
                          cwd=tmp_path, env=lab_env(), capture_output=True, text=True,
                          timeout=60)
    assert "--port" in _one_line_error(done)


def test_a_closed_output_stops_the_lab_with_one_line(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "notify_message", "lab", "--dir", str(tmp_path / "lab")],
        cwd=PACK_DIR, env=lab_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        process.stdout.read(10)       # the banner comes once the servers listen
        children = [int(pid) for pid in os.listdir("/proc") if pid.isdigit()
                    and _parent_of(int(pid)) == process.pid]
        assert len(children) == 3
        process.stdout.close()        # `lab | head -c 10`
        # the lab learns it when it next writes: the rest of its banner if it was still
        # writing it, else the line for a message received
        if process.poll() is None:
            subprocess.run(
                [sys.executable, "-m", "notify_message", "--config",
                 str(tmp_path / "lab" / "notify_message.yaml"), "notifyByCustom",
                 "--param", "receivers=oncall@example.com", "--param", "emailcontext=test"],
                cwd=PACK_DIR, env=lab_env(), capture_output=True, timeout=60)
        assert process.wait(timeout=60) == 2
        line = process.stderr.read().decode()
        assert line.count("\n") == 1 and "broken pipe" in line and "Traceback" not in line
        assert not [pid for pid in children if _alive(pid)]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        process.stderr.close()
