"""StackStorm's python runner monkey patches the process with eventlet before it loads an
action; a real send must still work there (asyncio + aiosmtplib + TLS under eventlet)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import PACK_DIR, smtp_instance

pytest.importorskip("eventlet")

SCRIPT = textwrap.dedent("""
    import eventlet
    eventlet.monkey_patch(os=True, select=True, socket=True, thread=True, time=True)
    import json, sys
    sys.path[:0] = [sys.argv[1]]
    from notify_message import notify_by_custom
    config = json.loads(sys.argv[2])
    result = notify_by_custom({"email": 1, "receivers": "a@163.com,b@163.com",
                               "emailTitle": "eventlet", "emailcontext": "patched"}, config)
    print(json.dumps(result.to_dict()))
""")


def test_a_real_send_works_under_eventlet_monkey_patching(smtp_server, local_ca):
    server = smtp_server()
    config = {"smtp_instances": [smtp_instance(server, local_ca)]}
    lib = os.path.join(PACK_DIR, "actions", "lib")
    done = subprocess.run([sys.executable, "-c", SCRIPT, lib, json.dumps(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] is True, result["message"]
    assert sorted(m.rcpt_tos[0] for m in server.received) == ["a@163.com", "b@163.com"]
