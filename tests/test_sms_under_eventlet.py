"""SMS and voice (httpx over TLS, asyncio) under StackStorm's eventlet monkey patching."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import PACK_DIR, aliyun_config

pytest.importorskip("eventlet")

SCRIPT = textwrap.dedent("""
    import eventlet
    eventlet.monkey_patch(os=True, select=True, socket=True, thread=True, time=True)
    import json, sys
    sys.path[:0] = [sys.argv[1]]
    from notify_message import notify_by_custom
    result = notify_by_custom({"telephone": "13800138000,057188886666", "sms": 1,
                               "smscontext": "patched", "telephonecontext": "patched"},
                              json.loads(sys.argv[2]))
    print(json.dumps(result.to_dict()))
""")


def test_sms_and_calls_work_under_eventlet_monkey_patching(aliyun_server, local_ca):
    server = aliyun_server()
    config = aliyun_config(server, local_ca)
    lib = os.path.join(PACK_DIR, "actions", "lib")
    done = subprocess.run([sys.executable, "-c", SCRIPT, lib, json.dumps(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] is True, result["message"]
    assert sorted(c.action for c in server.received) == ["SendSms", "SingleCallByTts",
                                                         "SingleCallByTts"]
