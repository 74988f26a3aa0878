"""The command line for people: a table and a summary on a terminal (a real pseudo-terminal,
or --table), the result JSON as before otherwise, progress on standard error, each
action's parameters from its metadata, the check command, and st2 templates refused."""

import json
import os
import pty
import re
import select
import subprocess
import sys

import pytest
import yaml
from helpers import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    PACK_DIR,
    SMTP_CODE,
    dingtalk_config,
    dingtalk_robot,
    smtp_instance,
)
from test_cli_hostile import run, run_process

from notify_message.parameters import ACTION_PARAMETERS

from testkit.dingtalk_server import FakeRobot

LIB = os.path.join(PACK_DIR, "actions", "lib")


def write(tmp_path, config, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return str(path)


@pytest.fixture
def mail_config(smtp_server, local_ca, tmp_path):
    """(path of a config with one SMTP instance, the server)."""
    server = smtp_server()
    return write(tmp_path, {"smtp_instances": [smtp_instance(server, local_ca)]}), server


SEND = ("notifyByCustom", "--param", "email=1", "--param",
        "receivers=oncall@163.com,lead@qq.com", "--param", "emailcontext=disk full on web-01")


def in_a_terminal(*args, columns=160):
    """``python -m notify_message ARGS`` with standard output and error on a pseudo-terminal:
    (exit status, everything the terminal showed)."""
    leader, follower = pty.openpty()
    env = dict(os.environ, PYTHONPATH=LIB, COLUMNS=str(columns), TERM="xterm")
    env.pop("NO_COLOR", None)
    child = subprocess.Popen([sys.executable, "-m", "notify_message", *args],
                             stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                             env=env)
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            child.kill()
            raise AssertionError("the command line did not finish")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return child.wait(timeout=60), shown.decode("utf-8", "replace")


def test_on_a_terminal_the_result_is_a_table_and_a_summary(mail_config):
    path, server = mail_config
    code, shown = in_a_terminal("--config", path, *SEND)
    assert code == 0, shown
    for header in ("channel", "target", "outcome", "code", "detail"):
        assert header in shown
    assert "oncall@163.com" in shown and "lead@qq.com" in shown and "delivered" in shown
    assert "All 2 deliveries succeeded (email 2/2)." in shown
    assert "{" not in shown  # no JSON
    # one message to both (the email default since "e-mail, complete and fast")
    assert sorted(r for m in server.received for r in m.rcpt_tos) == ["lead@qq.com",
                                                                      "oncall@163.com"]


def test_json_on_a_terminal_is_the_result_as_before(mail_config):
    path, _ = mail_config
    code, shown = in_a_terminal("--config", path, *SEND, "--json", "--no-progress")
    assert code == 0
    result = json.loads(shown)
    assert result["status"] is True and len(result["deliveries"]) == 2


def test_when_standard_output_is_not_a_terminal_it_is_json_exactly_as_before(mail_config):
    path, _ = mail_config
    done = run("--config", path, *SEND)
    assert done.returncode == 0 and done.stderr == ""
    result = json.loads(done.stdout)
    assert done.stdout == json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    assert [d["target"] for d in result["deliveries"]] == ["oncall@163.com", "lead@qq.com"]


def test_table_forces_the_table_and_a_failure_exits_1_naming_it(
        smtp_server, local_ca, tmp_path):
    server = smtp_server(rcpt_replies={"lead@qq.com": "550 Mailbox not found"})
    path = write(tmp_path, {"smtp_instances": [smtp_instance(server, local_ca)]})
    done = run("--config", path, *SEND, "--table")
    assert done.returncode == 1
    rows = [line for line in done.stdout.splitlines() if "@" in line and "│" in line]
    assert any("oncall@163.com" in r and "delivered" in r for r in rows)
    assert any("lead@qq.com" in r and "failed" in r for r in rows)
    assert "1 of 2 deliveries failed (email 1/2):" in done.stdout


def test_a_dry_run_table_lists_what_each_request_would_carry(mail_config):
    path, server = mail_config
    done = run("--config", path, *SEND, "--param", "dryRun=true", "--param",
               "emailTitle=Disk full", "--table")
    assert done.returncode == 0, done.stdout
    assert "dry run" in done.stdout and "Would send 1 request(s)" in done.stdout
    assert "email to oncall@163.com, lead@qq.com: Subject: Disk full" in done.stdout
    assert "Dry run, nothing was sent: All 2 deliveries would be attempted" in done.stdout
    assert server.sessions == 0


def test_progress_goes_to_standard_error_with_done_and_total(mail_config):
    path, server = mail_config
    receivers = ",".join(f"user{i}@163.com" for i in range(12))
    done = run("--config", path, "notifyByCustom", "--param", "email=1", "--param",
               f"receivers={receivers}", "--param", "emailcontext=x", "--progress")
    assert done.returncode == 0
    assert "12/12" in done.stderr and "deliveries" in done.stderr and "/s" in done.stderr
    assert json.loads(done.stdout)["status"] is True  # standard output keeps the JSON


def test_no_progress_unless_standard_error_is_a_terminal_or_it_is_asked(mail_config):
    path, _ = mail_config
    receivers = ",".join(f"user{i}@163.com" for i in range(12))
    done = run("--config", path, "notifyByCustom", "--param", "email=1", "--param",
               f"receivers={receivers}", "--param", "emailcontext=x")
    assert done.returncode == 0 and done.stderr == ""


PROGRESS_LINE = re.compile(r"(?:^|[\r\n])(?:\x1b\[[0-9;?]*[A-Za-z])*deliveries\b")


def test_many_deliveries_show_progress_on_a_terminal(mail_config):
    path, _ = mail_config
    receivers = ",".join(f"user{i}@163.com" for i in range(12))
    code, shown = in_a_terminal("--config", path, "notifyByCustom", "--param", "email=1",
                                "--param", f"receivers={receivers}", "--param",
                                "emailcontext=x")
    assert code == 0 and PROGRESS_LINE.search(shown) and "12/12" in shown


def test_a_few_deliveries_show_no_progress_on_a_terminal(mail_config):
    path, _ = mail_config
    code, shown = in_a_terminal("--config", path, *SEND)
    assert code == 0 and not PROGRESS_LINE.search(shown), shown


CLI_ACTIONS = sorted(set(ACTION_PARAMETERS) - {"listInternalMessages", "importPlaybook"})


@pytest.mark.parametrize("action", CLI_ACTIONS)
def test_action_help_lists_every_parameter_from_the_action_s_metadata(action):
    with open(os.path.join(PACK_DIR, "actions", action + ".yaml"), encoding="utf-8") as f:
        declared = yaml.safe_load(f)["parameters"]
    done = run(action, "--help")
    assert done.returncode == 0 and done.stderr == ""
    listed = [line.split(" (")[0].strip() for line in done.stdout.splitlines()
              if line.startswith("  ") and not line.startswith("      ")]
    assert listed == list(declared)


def test_action_help_shows_types_and_defaults():
    done = run("notifyByCustom", "--help")
    assert "  dryRun (boolean, default false)" in done.stdout
    assert "  receivers (string | array)" in done.stdout
    assert "Validate everything as a real call does" in done.stdout
    assert "  aliuid (string, required)" in run("notifyByMessageCenter", "--help").stdout


@pytest.mark.parametrize("template", [
    "{{ st2kv.system.smtp_code | decrypt_kv }}",
    "{{st2kv.user.code}}",
    "{% if true %}x{% endif %}",
    "prefix-{{ config_context.code }}",
])
def test_an_st2_template_in_the_config_is_refused_by_key(
        mail_config, tmp_path, local_ca, template):
    _, server = mail_config
    path = write(tmp_path, {"smtp_instances": [smtp_instance(server, local_ca,
                                                             emailPassword=template)]})
    done = run("--config", path, *SEND)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "'smtp_instances[0].emailPassword' is a StackStorm template" in done.stderr
    assert "${NAME}" in done.stderr and "st2kv" not in done.stderr
    assert server.sessions == 0


def test_braces_that_are_no_st2_template_are_kept(tmp_path):
    path = write(tmp_path, {"message_center": {"templates": {"e": {"en": {
        "subject": "Alert {{name}}", "body": "see $x"}}}}})
    done = run("--config", path, "notifyByCustom", "--param", "email=0")
    assert "StackStorm template" not in done.stderr


def test_an_environment_reference_still_reads_the_environment(mail_config, tmp_path,
                                                              local_ca):
    _, server = mail_config
    path = write(tmp_path, {"smtp_instances": [smtp_instance(server, local_ca,
                                                             emailPassword="${SOC_CODE}")]})
    done = run("--config", path, *SEND, env={"SOC_CODE": SMTP_CODE})
    assert done.returncode == 0 and len(server.received) == 1
    assert len(server.received[0].rcpt_tos) == 2


@pytest.fixture
def check_config(smtp_server, dingtalk_server, local_ca, tmp_path):
    server = smtp_server()
    robots = dingtalk_server([FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET)])
    config = {"smtp_instances": [smtp_instance(server, local_ca)],
              **dingtalk_config(robots, local_ca, dingtalk_robot(robots, secret=DINGTALK_SECRET))}
    return config, tmp_path


def test_check_prints_a_table_of_checks_and_exits_0(check_config):
    config, tmp_path = check_config
    done = run("check", "--config", write(tmp_path, config), "--table")
    assert done.returncode == 0, done.stdout
    for header in ("resource", "check", "ok", "detail", "what to do"):
        assert header in done.stdout
    assert "smtp:soc-163" in done.stdout and "dingtalk:soc-oncall" in done.stdout
    assert "All 7 checks passed." in done.stdout


def test_check_answers_json_and_exits_1_when_a_check_fails(check_config):
    config, tmp_path = check_config
    config["smtp_instances"][0]["emailPassword"] = "WrongCode"
    done = run("check", "--config", write(tmp_path, config), "--resource", "smtp")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert [(c["check"], c["ok"]) for c in result["checks"]] == [("connect", True),
                                                                 ("login", False)]
    assert "WrongCode" not in done.stdout


def test_check_may_follow_the_config_option(check_config):
    config, tmp_path = check_config
    done = run("--config", write(tmp_path, config), "check", "--resource", "smtp")
    assert done.returncode == 0 and json.loads(done.stdout)["status"] is True


def test_check_needs_a_config_file():
    done = run("check")
    assert done.returncode == 2 and "--config" in done.stderr


def test_json_and_table_together_are_a_usage_error_before_anything_is_sent(mail_config):
    path, server = mail_config
    done = run("--config", path, *SEND, "--json", "--table")
    assert done.returncode == 2 and "exclude each other" in done.stderr
    assert server.sessions == 0


def test_the_json_path_never_imports_rich(mail_config):
    path, _ = mail_config
    code = ("import sys, runpy; sys.argv = ['notify_message', '--config', %r, %s]\n"
            "from notify_message import cli\n"
            "status = cli.main(sys.argv[1:])\n"
            "print('RICH' if 'rich' in sys.modules else 'NO-RICH', status, file=sys.stderr)"
            % (path, ", ".join(repr(a) for a in SEND)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=LIB), timeout=60)
    assert done.stderr.strip().endswith("NO-RICH 0"), done.stderr


def test_a_subprocess_keeps_the_json_contract(mail_config):
    done = run_process("--config", mail_config[0], *SEND)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] is True
