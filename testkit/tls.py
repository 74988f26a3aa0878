"""A throwaway certificate authority (trustme) for the loopback servers."""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass

import trustme

__all__ = ["LocalCA", "make_local_ca"]


@dataclass
class LocalCA:
    ca: trustme.CA
    server_context: ssl.SSLContext
    ca_file: str  # PEM of the CA, for a client's ca_bundle

    def cleanup(self) -> None:
        if os.path.exists(self.ca_file):
            os.unlink(self.ca_file)


def make_local_ca(*hostnames: str) -> LocalCA:
    ca = trustme.CA()
    cert = ca.issue_cert(*(hostnames or ("127.0.0.1", "localhost")))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    fd, path = tempfile.mkstemp(prefix="notify-message-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(ca.cert_pem.bytes())
    return LocalCA(ca=ca, server_context=server_context, ca_file=path)
