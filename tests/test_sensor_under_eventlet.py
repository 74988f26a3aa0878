"""st2's sensor container monkey patches its process with eventlet before it loads a sensor
(st2reactor/container/sensor_wrapper.py).  The DingTalk listener must stay green there:
serve requests while other greenlets run, and stop on cleanup()."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

from helpers import PACK_DIR
from helpers import SENSOR_SECRET as SECRET
from helpers import free_port
from helpers import inbound_body as body
from helpers import outgoing_headers as signed_headers
from helpers import post_to_listener as send
from notify_message.channels.dingtalk.inbound import DEFAULT_PATH


# Runs the sensor the way the sensor container does: patched first, the sensor module loaded
# from its own folder only (it must find actions/lib itself), run() in a green thread.
SCRIPT = textwrap.dedent("""
    import eventlet
    eventlet.monkey_patch(os=True, select=True, socket=True, thread=True, time=True)
    import importlib.util, json, os, sys, threading, time
    pack_dir, standin, port, stop_file = sys.argv[1:5]
    try:
        import st2reactor.sensor.base  # noqa: F401
    except ImportError:
        sys.path.append(standin)

    class Service(object):
        def __init__(self):
            self.dispatched = []
        def get_logger(self, name):
            import logging
            return logging.getLogger(name)
        def dispatch(self, trigger, payload=None, trace_tag=None):
            self.dispatched.append({"trigger": trigger, "payload": payload})

    path = os.path.join(pack_dir, "sensors", "dingtalk_inbound_sensor.py")
    spec = importlib.util.spec_from_file_location("dingtalk_inbound_sensor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    service = Service()
    config = {"dingtalk_inbound": {"host": "127.0.0.1", "port": int(port),
                                   "app_secret": %r}}
    sensor = module.DingTalkInboundSensor(sensor_service=service, config=config)
    sensor.setup()
    runner = threading.Thread(target=sensor.run)
    runner.start()
    print("ready", flush=True)
    ticks = 0
    while not os.path.exists(stop_file):  # a greenlet that must keep running meanwhile
        time.sleep(0.01)
        ticks += 1
    sensor.cleanup()
    runner.join(5)
    print(json.dumps({"ticks": ticks, "stopped": not runner.is_alive(),
                      "dispatched": service.dispatched}), flush=True)
""" % SECRET)


def test_the_listener_serves_and_stops_under_eventlet_monkey_patching():
    port = free_port()
    stop_file = os.path.join(tempfile.mkdtemp(prefix="notify-message-"), "stop")
    standin = os.path.join(PACK_DIR, "tests", "st2_standin")
    lib = os.path.join(PACK_DIR, "actions", "lib")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in sys.path if p and os.path.abspath(p) != lib))  # the sensor must add it
    child = subprocess.Popen([sys.executable, "-c", SCRIPT, PACK_DIR, standin, str(port),
                              stop_file], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "ready"
        # each answer comes within the client's timeout (5 s) or send() raises: a listener
        # that blocked the patched process would never answer
        answers = [send(port, body(msgId="green-1"), signed_headers(), DEFAULT_PATH)[0],
                   send(port, body(msgId="green-2"), signed_headers(secret="SECforged"),
                        DEFAULT_PATH)[0],
                   send(port, body(msgId="green-1"), signed_headers(), DEFAULT_PATH)[0]]
        open(stop_file, "w").close()
        report = json.loads(child.stdout.readline())
        assert child.wait(10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    assert answers == [200, 401, 409]
    assert [d["payload"]["msgId"] for d in report["dispatched"]] == ["green-1"]
    assert report["stopped"] is True and report["ticks"] > 0
