"""A throwaway certificate authority (trustme) for the loopback servers."""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass

import trustme

__all__ = ["LocalCA", "make_local_ca", "server_context"]


@dataclass
class LocalCA:
    ca_file: str      # PEM of the CA: a client's ca_bundle
    server_pem: str   # the server's private key and certificate chain, for server_context()
    directory: str

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def make_local_ca(*hostnames: str) -> LocalCA:
    ca = trustme.CA()
    cert = ca.issue_cert(*(hostnames or ("127.0.0.1", "localhost")))
    directory = tempfile.mkdtemp(prefix="notify-message-ca-")
    ca_file = os.path.join(directory, "ca.pem")
    server_pem = os.path.join(directory, "server.pem")
    ca.cert_pem.write_to_path(ca_file)
    cert.private_key_and_cert_chain_pem.write_to_path(server_pem)
    return LocalCA(ca_file=ca_file, server_pem=server_pem, directory=directory)


def server_context(server_pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_pem)
    return context
