"""StackStorm's python runner monkey patches the process with eventlet before it loads an
action; real sends on every channel (asyncio + aiosmtplib / httpx + TLS) must still work
there. Each test runs notify_by_custom in a child process patched as st2 patches."""

import json
import os
import subprocess
import sys
import textwrap

from helpers import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    PACK_DIR,
    aliyun_config,
    dingtalk_config,
    dingtalk_robot,
    smtp_instance,
)

from testkit.dingtalk_server import FakeRobot

SCRIPT = textwrap.dedent("""
    import eventlet
    eventlet.monkey_patch(os=True, select=True, socket=True, thread=True, time=True)
    import json, sys
    sys.path[:0] = [sys.argv[1]]
    from notify_message import notify_by_custom
    result = notify_by_custom(json.loads(sys.argv[2]), json.loads(sys.argv[3]))
    print(json.dumps(result.to_dict()))
""")


def notify_under_eventlet(params, config):
    lib = os.path.join(PACK_DIR, "actions", "lib")
    done = subprocess.run([sys.executable, "-c", SCRIPT, lib, json.dumps(params),
                           json.dumps(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] is True, result["message"]
    return result


def test_email_over_implicit_tls(smtp_server, local_ca):
    server = smtp_server()
    notify_under_eventlet({"email": 1, "receivers": "a@163.com,b@163.com",
                           "emailTitle": "eventlet", "emailcontext": "patched"},
                          {"smtp_instances": [smtp_instance(server, local_ca)]})
    # one pipelined transaction (aiosmtplib's transport taken over) under the patching
    assert [sorted(m.rcpt_tos) for m in server.received] == [["a@163.com", "b@163.com"]]


def test_a_signed_dingtalk_message(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET)])
    config = dingtalk_config(server, local_ca, dingtalk_robot(server, secret=DINGTALK_SECRET))
    notify_under_eventlet({"dingding": 1, "dingdingMsgType": "markdown",
                           "dingdingcontext": "## 告警 eventlet"}, config)
    assert server.received[0].signed and server.received[0].body["msgtype"] == "markdown"


def test_sms_and_voice_calls(aliyun_server, local_ca):
    server = aliyun_server()
    notify_under_eventlet({"telephone": "13800138000,057188886666", "sms": 1,
                           "smscontext": "patched", "telephonecontext": "patched"},
                          aliyun_config(server, local_ca))
    assert sorted(c.action for c in server.received) == ["SendSms", "SingleCallByTts",
                                                         "SingleCallByTts"]
