"""A real ``redis-server`` on loopback for the Redis state store's tests and the benchmark.

Started from the distribution's package (``/usr/bin/redis-server`` or on PATH) with no
persistence, in a temporary folder, on a free port; optionally with a password and TLS only
(``--tls-port``, the plain port closed).  ``flush()`` empties it between tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

__all__ = ["LocalRedisServer", "redis_server_binary"]


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalRedisServer:
    """``with LocalRedisServer(password="pw", tls_pem=pem, ca_file=ca) as server:``
    ``server.url`` is what ``storm_control.state.url`` takes."""

    def __init__(self, *, password: str = "", tls_pem: str = "", ca_file: str = "") -> None:
        self.password = password
        self.tls_pem = tls_pem
        self.ca_file = ca_file
        self.port = 0
        self.directory = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls_pem else "redis"
        auth = f":{self.password}@" if self.password else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> LocalRedisServer:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.directory = tempfile.mkdtemp(prefix="notify-message-redis-")
        self.port = _free_port()
        args = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.directory, "--daemonize", "no", "--loglevel", "warning"]
        if self.tls_pem:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.tls_pem,
                     "--tls-key-file", self.tls_pem, "--tls-ca-cert-file", self.ca_file,
                     "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        log = open(os.path.join(self.directory, "redis.log"), "wb")
        self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                with open(os.path.join(self.directory, "redis.log"), "rb") as f:
                    raise RuntimeError("redis-server ended: " + f.read().decode()[-500:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start within 10 s")

    def client(self) -> Any:
        """A redis-py client of this server (redis-py is imported by the tests only)."""
        import redis

        options = {"ssl_ca_certs": self.ca_file} if self.tls_pem else {}
        return redis.Redis.from_url(self.url, **options)

    def flush(self) -> None:
        client = self.client()
        try:
            client.flushall()
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalRedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
