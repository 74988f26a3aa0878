"""DingTalk outgoing robot -> ``notify_message.dingtalk_message`` triggers (inbound ChatOps).

Runs an HTTP listener at ``dingtalk_inbound.host:port`` + ``path``; DingTalk POSTs every
message that @-mentions the robot there.  Requests with a forged signature, a timestamp more
than an hour off, or an msgId already received are refused and never become triggers; the
listener bounds what a hostile client can hold (``request_timeout`` for a whole request,
``max_connections``, header and body sizes: see notify_message/http_listener.py).
"""

import os
import sys
import threading

# st2 puts a sensor's own folder on sys.path, not actions/lib: add the pack's library
_LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "actions", "lib")
if _LIB not in sys.path:
    sys.path.insert(0, _LIB)

from st2reactor.sensor.base import Sensor  # noqa: E402

from notify_message.channels.dingtalk.inbound import (  # noqa: E402
    MAX_BODY_BYTES,
    TRIGGER,
    DingTalkInboundConfig,
    InboundEndpoint,
)
from notify_message.http_listener import HttpListener  # noqa: E402


class DingTalkInboundSensor(Sensor):
    def __init__(self, sensor_service, config=None):
        super(DingTalkInboundSensor, self).__init__(sensor_service=sensor_service, config=config)
        self._logger = self.sensor_service.get_logger(name=self.__class__.__name__)
        self._listener = None
        self._idle = threading.Event()

    @property
    def port(self):
        """The port the listener is bound to (useful when the config asked for port 0)."""
        return self._listener.port if self._listener else None

    def setup(self):
        section = (self.config or {}).get("dingtalk_inbound")
        if not section:
            self._logger.warning("dingtalk_inbound is not configured: the DingTalk listener "
                                 "stays off (set host, port and app_secret, then restart)")
            return
        config = DingTalkInboundConfig.from_mapping(section)
        endpoint = InboundEndpoint(config, self._dispatch, log=self._logger.warning)
        self._listener = HttpListener(config.host, config.port, endpoint,
                                      max_body=MAX_BODY_BYTES,
                                      request_timeout=config.request_timeout,
                                      max_connections=config.max_connections,
                                      log=self._logger.warning)
        self._listener.bind()
        self._logger.info("listening for DingTalk on %s:%s%s", config.host, self._listener.port,
                          config.path)

    def run(self):
        if self._listener is None:
            self._idle.wait()
            return
        self._listener.serve_forever()

    def cleanup(self):
        self._idle.set()
        if self._listener is not None:
            self._listener.stop()

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass

    def _dispatch(self, message):
        self.sensor_service.dispatch(trigger=TRIGGER, payload=message.to_payload(),
                                     trace_tag="dingtalk-%s" % message.msg_id)
