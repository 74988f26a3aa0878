"""``python -m notify_message`` given mistakes: each is one line on standard error and exit
status 2, never a traceback (``--debug`` shows it); the config is checked against the pack's
config.schema.yaml, unknown keys named with the closest known one.  Most cases run
``cli.main`` in this process the way ``python -m notify_message`` does (standard input empty,
standard output and error captured, logging set up by the CLI itself); what needs a real
process runs as a subprocess, the way a shell runs it: the ``python -m`` entry point itself,
``--debug``'s traceback, a closed standard output (broken pipe) and Ctrl-C."""

import contextlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from helpers import PACK_DIR, PLAYBOOK, SMTP_CODE, chain, playbook, smtp_instance

from notify_message import cli

LIB = os.path.join(PACK_DIR, "actions", "lib")
SMTP = {"assetname": "soc", "emailUsername": "soc@163.com", "emailPassword": "${SOC_CODE}"}


def run_process(*args, stdout=subprocess.PIPE, env=None):
    """``python -m notify_message ARGS`` as a subprocess, standard input empty."""
    environment = dict(os.environ, PYTHONPATH=LIB, **(env or {}))
    return subprocess.run([sys.executable, "-m", "notify_message", *args],
                          stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                          env=environment, timeout=120, text=True)


@contextlib.contextmanager
def _as_a_fresh_process(env):
    """What ``python -m notify_message`` starts with, for a call in this process: an empty
    standard input, standard output and error captured, ``env`` added to the environment, and
    a root logger without handlers (so that the CLI's logging.basicConfig writes to the
    captured standard error, as it does in a process of its own).  Everything is put back."""
    out, err = io.StringIO(), io.StringIO()
    saved_environ = dict(os.environ)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_stdin = sys.stdin
    os.environ.update(env or {})
    root.handlers[:] = []
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield out, err
    finally:
        sys.stdin = saved_stdin
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        os.environ.clear()
        os.environ.update(saved_environ)


def run(*args, env=None):
    """``python -m notify_message ARGS`` in this process (``cli.main``, whose return value is
    the exit status ``__main__`` passes to sys.exit); an exception escaping it fails the
    test, as the traceback of a subprocess would."""
    with _as_a_fresh_process(env) as (out, err):
        try:
            code = cli.main(list(args))
        except SystemExit as exc:
            code = exc.code
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def assert_one_line_exit_2(done, *fragments):
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("python -m notify_message: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def config_file(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return str(path)


# --- the config file -------------------------------------------------------------------------
@pytest.mark.parametrize("make, fragments", [
    (lambda p: str(p / "missing.yaml"), ["missing.yaml: no such file"]),
    (lambda p: str(p), ["is a directory"]),
    (lambda p: config_file(p, "smtp_instances: [\n"), ["is not valid YAML", "line 2"]),
    (lambda p: config_file(p, '{"smtp_instances": [}', "c.json"), ["is not valid YAML"]),
    (lambda p: config_file(p, "- a\n- b\n"), ["expected the pack config as an object, got "
                                              "array"]),
    (lambda p: config_file(p, "just text\n"), ["got string"]),
    (lambda p: config_file(p, b"\xff\xfe\x00bad"), ["is not UTF-8 text"]),
    (lambda p: config_file(p, "a: !!python/object:os.system x\n"), ["is not valid YAML"]),
    (lambda p: config_file(p, "a: " + "[" * 600 + "]" * 600 + "\n"), ["nests its values too "
                                                                      "deeply"]),
    (lambda p: config_file(p, "a: " + "[" * 40 + "]" * 40 + "\n"), ["deeper than 32 levels"]),
    (lambda p: config_file(p, "x: 2025-13-45\n"), ["is not valid YAML"]),
    (lambda p: config_file(p, "max_concurrency: " + "9" * 5000 + "\n"), ["config file"]),
], ids=["missing", "directory", "bad-yaml", "bad-json", "list", "scalar", "not-utf8",
        "python-tag", "deeper-than-python", "deep", "bad-date", "huge-integer"])
def test_a_config_file_that_cannot_be_read_is_one_line(tmp_path, make, fragments):
    done = run("--config", make(tmp_path), "notifyByCustom", "--param", "email=1")
    assert_one_line_exit_2(done, *fragments)


def test_an_unreadable_config_file_is_one_line(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = config_file(tmp_path, "{}\n")
    os.chmod(path, 0)
    assert_one_line_exit_2(run("--config", path, "notifyByCustom"), "permission denied")


def test_a_config_of_aliases_multiplying_itself_is_refused_before_it_is_walked(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    started = time.monotonic()
    done = run("--config", config_file(tmp_path, "\n".join(lines) + "\n"), "notifyByCustom")
    assert_one_line_exit_2(done, "holds more than")
    assert time.monotonic() - started < 30


def test_a_missing_environment_variable_names_the_key(tmp_path):
    path = config_file(tmp_path, yaml.safe_dump({"smtp_instances": [SMTP]}))
    env = {k: v for k, v in os.environ.items() if k != "SOC_CODE"}
    done = subprocess.run([sys.executable, "-m", "notify_message", "--config", path,
                           "notifyByCustom"], capture_output=True, text=True, timeout=120,
                          env=dict(env, PYTHONPATH=LIB))
    assert_one_line_exit_2(done, "pack config 'smtp_instances[0].emailPassword' refers to "
                                 "${SOC_CODE}, but the environment has no SOC_CODE")


# --- the config schema ----------------------------------------------------------------------
@pytest.mark.parametrize("config, expected", [
    ({"smtp_instances": [dict(SMTP, emailUsernme="soc@163.com")]},
     "pack config 'smtp_instances[0].emailUsernme': unknown key; did you mean emailUsername?"),
    ({"smtp_instance": [SMTP]},
     "pack config 'smtp_instance': unknown key; did you mean smtp_instances?"),
    ({"message_center": {"provder": "local"}},
     "pack config 'message_center.provder': unknown key; did you mean provider?"),
    ({"smtp_instances": [dict(SMTP, zzzz=1)]},
     "pack config 'smtp_instances[0].zzzz': unknown key; expected one of assetname, uuid"),
    ({"max_concurrency": "ten"}, "pack config 'max_concurrency': expected integer, got string"),
    ({"max_concurrency": 0}, "pack config 'max_concurrency': expected at least 1"),
    ({"smtp_instances": [dict(SMTP, tls="ssl")]},
     "pack config 'smtp_instances[0].tls': expected one of implicit, starttls, plain"),
    ({"smtp_instances": [{"assetname": "soc", "emailPassword": "x"}]},
     "pack config 'smtp_instances[0].emailUsername': is required"),
    ({"smtp_instances": {"assetname": "soc"}},
     "pack config 'smtp_instances': expected array, got object"),
], ids=["typo", "top-level-typo", "nested-typo", "no-close-key", "type", "minimum", "enum",
        "required", "object-for-array"])
def test_the_config_is_checked_against_the_pack_schema(tmp_path, config, expected):
    done = run("--config", config_file(tmp_path, yaml.safe_dump(config)), "notifyByCustom",
               "--param", "email=1", env={"SOC_CODE": "x"})
    line = assert_one_line_exit_2(done, expected)
    assert "soc@163.com" not in line.partition("unknown key")[2]  # no values quoted


def test_a_schema_problem_never_quotes_the_value(tmp_path):
    config = {"smtp_instances": [dict(SMTP, emailPassword=["Secret-Auth-Code"])]}
    done = run("--config", config_file(tmp_path, yaml.safe_dump(config)), "notifyByCustom")
    line = assert_one_line_exit_2(done, "smtp_instances[0].emailPassword", "expected string")
    assert "Secret-Auth-Code" not in done.stderr and "Secret" not in line


def test_what_the_library_reads_leniently_the_schema_check_accepts(tmp_path):
    """null (absent), a number for a string, one string for a list of strings: the library
    reads each, so the CLI's schema check does not refuse them."""
    from notify_message.cli import check_against_schema
    check_against_schema({"smtp_instances": [dict(SMTP, uuid=12345, sender_name=None)],
                          "dingtalk_allowed_hosts": "relay.example.com",
                          "message_center": None,
                          "aliyun": {"access_key_id": "id", "access_key_secret": "s",
                                     "region_id": None}})
    with open(os.path.join(PACK_DIR, "notify_message.yaml.example")) as f:
        check_against_schema(yaml.safe_load(f))


def test_without_a_schema_file_nothing_is_checked(tmp_path):
    cli.check_against_schema({"no_such_key": 1}, str(tmp_path / "config.schema.yaml"))
    with pytest.raises(Exception, match="unknown key"):
        cli.check_against_schema({"no_such_key": 1})


def test_the_schema_is_found_next_to_the_library():
    assert cli.SCHEMA_PATH == os.path.join(PACK_DIR, "config.schema.yaml")


def test_environment_values_are_expanded_before_the_check(tmp_path, smtp_server, local_ca):
    server = smtp_server()
    instance = smtp_instance(server, local_ca, emailPassword="${SOC_CODE}")
    done = run("--config", config_file(tmp_path, yaml.safe_dump({"smtp_instances": [instance]})),
               "notifyByCustom", "--param", "email=1", "--param", "receivers=a@163.com",
               "--param", "emailcontext=x", env={"SOC_CODE": SMTP_CODE})
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] is True
    assert [m.rcpt_tos for m in server.received] == [("a@163.com",)]


# --- the command line -----------------------------------------------------------------------
@pytest.mark.parametrize("args, fragments", [
    (["notifyByCustm"], ["unknown action 'notifyByCustm'; did you mean notifyByCustom?"]),
    (["sendPigeon"], ["unknown action 'sendPigeon'; expected one of"]),
    ([], ["the following arguments are required: ACTION"]),
    (["notifyByCustom", "--param", "no-equals-sign"], ["--param", "expected NAME=VALUE"]),
    (["notifyByCustom", "--param", "=value"], ["expected NAME=VALUE"]),
    (["notifyByCustom", "--params-json", "{not json"], ["--params-json is not valid JSON"]),
    (["notifyByCustom", "--params-json", "[1, 2]"], ["--params-json must be a JSON object"]),
    (["notifyByCustom", "--params-json", "[" * 100000], ["--params-json nests"]),
    (["notifyByCustom", "--no-such-option"], ["unrecognized arguments: --no-such-option"]),
    (["import-playbook"], ["the following arguments are required: playbook, --name"]),
], ids=["action-typo", "unknown-action", "no-action", "param-syntax", "param-no-name",
        "params-json", "params-json-list", "params-json-deep", "unknown-option",
        "import-no-args"])
def test_a_command_line_mistake_is_one_line(args, fragments):
    assert_one_line_exit_2(run(*args), *fragments)


def test_debug_shows_the_traceback(tmp_path):
    done = run_process("--debug", "--config", str(tmp_path / "missing.yaml"), "notifyByCustom")
    assert done.returncode == 2 and "Traceback" in done.stderr
    assert done.stderr.splitlines()[-1].endswith("missing.yaml: no such file")


def test_a_line_break_in_a_file_name_does_not_split_the_line(tmp_path):
    done = run("--config", str(tmp_path / "a\nforged line\x1b[2J"), "notifyByCustom")
    line = assert_one_line_exit_2(done, "no such file")
    assert "\x1b" not in line


def _closed_pipe():
    """A pipe whose reading end is already closed: writing to it is EPIPE at once."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


@pytest.mark.parametrize("args", [
    ["import-playbook", PLAYBOOK, "--name", "x"],
    ["notifyByCustom", "--param", "receivers=not-an-address"],
], ids=["import-playbook", "action-result"])
def test_a_closed_standard_output_is_one_line(args):
    write_end = _closed_pipe()
    try:
        done = run_process(*args, stdout=write_end)
    finally:
        os.close(write_end)
    assert_one_line_exit_2(done, "broken pipe")


def test_piping_a_large_conversion_into_head_is_one_line(tmp_path):
    path = tmp_path / "long.json"
    path.write_text(json.dumps(playbook(*chain(*(f"N{i}" for i in range(1, 2001))))))
    # 580 kB of output, more than a pipe holds; buffered, as a shell runs it (unbuffered,
    # Python drops what a write to a pipe closed half way did not take, and says nothing)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    shell = subprocess.run(
        f"'{sys.executable}' -m notify_message import-playbook '{path}' --name long | head -1",
        shell=True, capture_output=True, text=True, timeout=120,
        env=dict(env, PYTHONPATH=LIB))
    assert shell.stdout == "# --- actions/long.yaml\n"
    assert len(shell.stderr.splitlines()) == 1 and "broken pipe" in shell.stderr
    assert "Traceback" not in shell.stderr and "Exception ignored" not in shell.stderr


def _waiting_on_standard_input(pid):
    """Whether the process is blocked reading file descriptor 0 (Linux)."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return None
    return len(fields) > 1 and fields[0] == "0" and int(fields[1], 16) == 0


def test_ctrl_c_is_one_line():
    child = subprocess.Popen([sys.executable, "-m", "notify_message", "import-playbook", "-",
                              "--name", "x"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=LIB))
    try:
        deadline = time.monotonic() + 60
        while not _waiting_on_standard_input(child.pid):
            if _waiting_on_standard_input(child.pid) is None:
                pytest.skip("no /proc/<pid>/syscall to see the child wait")
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        child.wait(timeout=60)  # before stdin closes: an end of input would race the signal
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 2, err
    assert err.splitlines() == ["python -m notify_message: error: interrupted"]


def test_keyboard_interrupt_in_an_action_is_one_line(monkeypatch, capsys):
    def interrupted(params, config):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.ACTIONS, "notifyByCustom", interrupted)
    assert cli.main(["notifyByCustom"]) == 2
    assert capsys.readouterr().err == "python -m notify_message: error: interrupted\n"


# --- import-playbook ------------------------------------------------------------------------
def test_a_missing_playbook_file_is_one_line(tmp_path):
    assert_one_line_exit_2(run("import-playbook", str(tmp_path / "nope.json"), "--name", "x"),
                           "nope.json: no such file")


def test_a_playbook_problem_is_one_line_per_problem(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    done = run("import-playbook", str(path), "--name", "x")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("the playbook cannot be converted: the playbook is not "
                                  "valid JSON")


def test_an_oversized_playbook_is_not_read_to_its_end(tmp_path):
    from notify_message.playbook.graph import MAX_PLAYBOOK_BYTES
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(MAX_PLAYBOOK_BYTES * 64)  # sparse: 1 GiB that costs nothing
    done = run("import-playbook", str(path), "--name", "x")
    assert_one_line_exit_2(done, f"the playbook is more than {MAX_PLAYBOOK_BYTES} bytes")


def test_a_config_for_import_playbook_is_checked_as_well(tmp_path):
    config = config_file(tmp_path, yaml.safe_dump({"smtp_instances": [
        {"assetname": "soc", "emailUsername": "soc@163.com", "emailPasword": "x"}]}))
    done = run("import-playbook", PLAYBOOK, "--name", "x", "--config", config)
    assert_one_line_exit_2(done, "'smtp_instances[0].emailPasword': unknown key; did you mean "
                                 "emailPassword?")


def test_out_through_a_link_leading_outside_is_one_line(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "actions").symlink_to(outside)
    done = run("import-playbook", PLAYBOOK, "--name", "x", "--out", str(pack))
    assert_one_line_exit_2(done, "outside")
    assert list(outside.iterdir()) == []


def test_existing_files_under_out_are_one_line(tmp_path):
    assert run("import-playbook", PLAYBOOK, "--name", "x", "--out", str(tmp_path)).returncode == 0
    done = run("import-playbook", PLAYBOOK, "--name", "x", "--out", str(tmp_path))
    assert_one_line_exit_2(done, "already exists; pass overwrite")
