"""Storm control's digest flusher: digests go out when they are due, even when no alert
comes - within ``storm_control.digest.group_interval`` plus ``flush_interval`` (default
60 + 10 s) of an alert being queued.

Idle without ``storm_control`` in the pack config: it waits for its cleanup and imports
nothing of storm control.  With it, the sensor looks in the state store every
``flush_interval`` seconds; when alerts are queued and no flusher runs, it starts one
(``python -m notify_message.state.flusher``): a fresh interpreter, as st2 gives an action,
that sends each digest when it is due and exits after a minute without queued alerts.  The
sending thus never runs in the sensor container's eventlet-patched process.  A flusher that
dies mid-send loses nothing: its alerts are leased, and offered again when the lease ends;
the sensor starts another at its next look.
"""

import json
import os
import subprocess
import sys
import tempfile
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
        self.flusher = None   # the running flusher process, if any
        self.flushers = 0     # flusher processes started (tests read it)

    def setup(self):
        config = PackConfig.from_mapping(dict(self.config or {}))
        self._settings = config.storm_control
        if self._settings is None:
            self._logger.info("storm_control is not configured: the digest flusher stays idle")

    def run(self):
        if self._settings is None:
            self._stop.wait()
            return
        while not self._stop.is_set():
            self.flush_if_due()
            self._stop.wait(self._settings.flush_interval)

    def flush_if_due(self):
        """Start a flusher when alerts are queued and none runs; the running one, or None.
        Never raises: a store that cannot be reached is logged and looked at again."""
        from notify_message.state.settings import open_store
        from notify_message.state.store import StoreUnavailable

        if self.flusher is not None and self.flusher.poll() is None:
            return self.flusher
        try:
            if self._store is None:
                self._store = open_store(self._settings.state)
            if not self._store.queues():
                return None
        except StoreUnavailable as exc:
            self._logger.warning("digest flusher: %s", exc)
            self._store = None
            return None
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [_LIB] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        # the config goes through a file the flusher deletes once read, not a pipe: under the
        # sensor container's eventlet, pipes are plain blocking files, and a read or write
        # that waits on the child would stop every green thread of the container
        handle, path = tempfile.mkstemp(prefix="notify-message-flush-", suffix=".json")
        with os.fdopen(handle, "w") as f:
            json.dump(dict(self.config or {}), f)
        self.flusher = subprocess.Popen(
            [sys.executable, "-m", "notify_message.state.flusher", "--config-file", path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)  # errors: stderr
        self.flushers += 1
        self._logger.info("digest flusher started (pid %d)", self.flusher.pid)
        return self.flusher

    def cleanup(self):
        self._stop.set()
        if self.flusher is not None and self.flusher.poll() is None:
            self.flusher.terminate()
            try:
                self.flusher.wait(10)
            except subprocess.TimeoutExpired:
                self.flusher.kill()
        if self._store is not None:
            self._store.close()

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
