"""StackStorm's python runner monkey patches the process with eventlet before it loads an
action; a signed DingTalk send (asyncio + httpx + TLS) must still work there."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import DINGTALK_SECRET, DINGTALK_TOKEN, PACK_DIR, FakeRobot, dingtalk_config, \
    dingtalk_robot

pytest.importorskip("eventlet")

SCRIPT = textwrap.dedent("""
    import eventlet
    eventlet.monkey_patch(os=True, select=True, socket=True, thread=True, time=True)
    import json, sys
    sys.path[:0] = [sys.argv[1]]
    from notify_message import notify_by_custom
    result = notify_by_custom({"dingding": 1, "dingdingMsgType": "markdown",
                               "dingdingcontext": "## 告警 eventlet"}, json.loads(sys.argv[2]))
    print(json.dumps(result.to_dict()))
""")


def test_a_signed_send_works_under_eventlet_monkey_patching(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET)])
    config = dingtalk_config(server, local_ca, dingtalk_robot(server, secret=DINGTALK_SECRET))
    lib = os.path.join(PACK_DIR, "actions", "lib")
    done = subprocess.run([sys.executable, "-c", SCRIPT, lib, json.dumps(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] is True, result["message"]
    assert server.received[0].signed and server.received[0].body["msgtype"] == "markdown"
