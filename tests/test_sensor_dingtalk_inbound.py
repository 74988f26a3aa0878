"""DingTalkInboundSensor as StackStorm runs it (BaseSensorTestCase: the real one under st2,
the stand-in under plain pytest), answering real HTTP requests on 127.0.0.1."""

import http.client
import importlib.util
import json
import os
import threading
import time

import pytest
from helpers import INBOUND_PATH, PACK_DIR
from helpers import SENSOR_SECRET as SECRET
from helpers import free_port
from helpers import inbound_body as body
from helpers import outgoing_headers as signed_headers
from helpers import post_to_listener as send
from notify_message.channels.dingtalk.inbound import TRIGGER
from st2tests.base import BaseSensorTestCase

PATH = INBOUND_PATH
SENSOR_FILE = os.path.join(PACK_DIR, "sensors", "dingtalk_inbound_sensor.py")


def load_sensor_class():
    """By file path, as st2's sensor container loads it (its folder is all it gets)."""
    spec = importlib.util.spec_from_file_location("dingtalk_inbound_sensor", SENSOR_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DingTalkInboundSensor


def now_ms():
    return int(time.time() * 1000)


class DingTalkInboundSensorTestCase(BaseSensorTestCase):
    __test__ = True
    sensor_cls = load_sensor_class()

    def setUp(self):
        super(DingTalkInboundSensorTestCase, self).setUp()
        self.port = free_port()
        self.config = {"dingtalk_inbound": {"host": "127.0.0.1", "port": self.port,
                                            "path": PATH, "app_secret": SECRET}}
        self.sensor = None
        self.runner = None

    def tearDown(self):
        if self.sensor is not None:
            self.sensor.cleanup()
        if self.runner is not None:
            self.runner.join(5)
        super(DingTalkInboundSensorTestCase, self).tearDown()

    def start(self, config=None):
        self.sensor = self.get_sensor_instance(config=self.config if config is None else config)
        self.sensor.setup()
        self.runner = threading.Thread(target=self.sensor.run, daemon=True)
        self.runner.start()
        return self.sensor

    def test_a_correctly_signed_message_dispatches_the_trigger(self):
        self.start()
        status, answer = send(self.port, body(msgId="msg-ok"), signed_headers())
        assert (status, answer) == (200, {})
        expected = json.loads(body(msgId="msg-ok"))
        self.assertTriggerDispatched(trigger=TRIGGER)
        payload = self.get_last_dispatched_trigger()["payload"]
        assert payload["text"] == "deploy status" and payload["msgId"] == "msg-ok"
        assert payload["senderStaffId"] == expected["senderStaffId"]
        assert payload["conversationTitle"] == expected["conversationTitle"]
        assert payload["sessionWebhook"] == expected["sessionWebhook"]
        assert payload["sessionWebhookExpiredTime"] == expected["sessionWebhookExpiredTime"]
        assert payload["isAdmin"] is True

    def test_a_forged_signature_is_refused_and_dispatches_nothing(self):
        self.start()
        status, answer = send(self.port, body(), signed_headers(secret="SECguessed"))
        assert status == 401 and "signature" in answer["error"]
        assert self.get_dispatched_triggers() == []

    def test_a_stale_timestamp_is_refused_and_dispatches_nothing(self):
        self.start()
        two_hours_ago = now_ms() - 2 * 3600 * 1000
        status, answer = send(self.port, body(), signed_headers(two_hours_ago))
        assert status == 401 and "one hour" in answer["error"]
        assert self.get_dispatched_triggers() == []

    def test_a_replayed_msg_id_is_refused_and_dispatched_once(self):
        self.start()
        assert send(self.port, body(msgId="msg-twice"), signed_headers())[0] == 200
        status, answer = send(self.port, body(msgId="msg-twice"), signed_headers())
        assert status == 409 and "replay" in answer["error"]
        assert [t["payload"]["msgId"] for t in self.get_dispatched_triggers()] == ["msg-twice"]

    def test_other_paths_methods_and_missing_lengths_are_refused(self):
        self.start()
        assert send(self.port, body(), signed_headers(), path="/elsewhere")[0] == 404
        assert send(self.port, None, {}, method="GET")[0] == 405
        assert self.get_dispatched_triggers() == []

    def test_an_oversized_body_is_refused_before_it_is_read(self):
        self.start()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:  # announce a body bigger than any DingTalk message, and send none of it
            connection.putrequest("POST", PATH)
            for name, value in signed_headers().items():
                connection.putheader(name, value)
            connection.putheader("Content-Length", str(64 * 1024 + 1))
            connection.endheaders()
            assert connection.getresponse().status == 413
        finally:
            connection.close()
        assert self.get_dispatched_triggers() == []

    def test_cleanup_stops_the_listener_and_run_returns(self):
        self.start()
        assert send(self.port, body(msgId="m1"), signed_headers())[0] == 200
        self.sensor.cleanup()
        self.runner.join(5)
        assert not self.runner.is_alive()
        with pytest.raises(OSError):
            send(self.port, body(msgId="m2"), signed_headers())

    def test_without_the_config_section_the_sensor_idles_until_cleanup(self):
        self.start(config={"smtp_instances": []})
        assert self.sensor.port is None and self.runner.is_alive()
        self.sensor.cleanup()
        self.runner.join(5)
        assert not self.runner.is_alive()

    def test_a_broken_config_section_fails_setup_naming_the_key(self):
        sensor = self.get_sensor_instance(config={"dingtalk_inbound": {"port": self.port}})
        with pytest.raises(ValueError) as broken:
            sensor.setup()
        assert "dingtalk_inbound.app_secret" in str(broken.value)

    def test_a_port_in_use_fails_setup(self):
        self.start()
        other = self.get_sensor_instance(config=self.config)
        with pytest.raises(OSError):
            other.setup()
