"""Storm control's digest flusher: sends the digests that are due, every
``storm_control.digest.flush_interval`` seconds (default 10), even when no alert comes.

Idle without ``storm_control`` in the pack config: it waits for its cleanup and imports
nothing of storm control.  With it, the sensor only looks in the state store for queued
alerts; the sending itself runs in a fresh interpreter (``python -m
notify_message.state.flusher``), as an action would, outside the sensor container's
eventlet-patched process.  A flusher that dies mid-send loses nothing: its alerts are
leased, and offered to the next flusher when the lease ends.
"""

import json
import os
import subprocess
import sys
import threading

# st2 puts a sensor's own folder on sys.path, not actions/lib: add the pack's library
_LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "actions", "lib")
if _LIB not in sys.path:
    sys.path.insert(0, _LIB)

from st2reactor.sensor.base import Sensor  # noqa: E402

from notify_message.config.pack import PackConfig  # noqa: E402


class DigestFlushSensor(Sensor):
    def __init__(self, sensor_service, config=None):
        super(DigestFlushSensor, self).__init__(sensor_service=sensor_service, config=config)
        self._logger = self.sensor_service.get_logger(name=self.__class__.__name__)
        self._stop = threading.Event()
        self._settings = None
        self._store = None
        self.flushes = 0   # flusher processes started (tests read it)

    def setup(self):
        config = PackConfig.from_mapping(dict(self.config or {}))
        self._settings = config.storm_control
        if self._settings is None:
            self._logger.info("storm_control is not configured: the digest flusher stays idle")

    def run(self):
        if self._settings is None:
            self._stop.wait()
            return
        while not self._stop.wait(self._settings.flush_interval):
            self.flush_if_due()

    def flush_if_due(self):
        """Start a flusher when the store holds queued alerts; never raises."""
        from notify_message.state.settings import open_store
        from notify_message.state.store import StoreUnavailable

        try:
            if self._store is None:
                self._store = open_store(self._settings.state)
            if not self._store.queues():
                return None
        except StoreUnavailable as exc:
            self._logger.warning("digest flusher: %s", exc)
            self._store = None
            return None
        self.flushes += 1
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [_LIB] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        try:
            done = subprocess.run([sys.executable, "-m", "notify_message.state.flusher"],
                                  input=json.dumps(dict(self.config or {})), env=env,
                                  capture_output=True, text=True,
                                  timeout=self._settings.lease_seconds)
        except subprocess.TimeoutExpired:
            self._logger.warning("digest flusher: still running after the lease; its alerts "
                                 "will be offered again")
            return None
        lines = done.stdout.strip().splitlines()
        if done.returncode not in (0, 1) or not lines:
            self._logger.error("digest flusher ended with %s", done.returncode)
            return None
        report = json.loads(lines[-1])
        sent = sum(1 for d in report["digests"] if d.get("delivery", {}).get("ok"))
        self._logger.info("digest flusher: %d digest(s) sent of %d queue(s)%s", sent,
                          len(report["digests"]), "; " + report["note"] if report["note"] else "")
        return report

    def cleanup(self):
        self._stop.set()
        if self._store is not None:
            self._store.close()

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
