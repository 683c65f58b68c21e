"""Loopback ports: for a server the suite starts, or an address where nothing listens.

The port is free when this returns and may be taken a moment later; callers that
bind it themselves retry (see ``SlapdServer``), callers that want a dead address
rely on nobody taking it within the test.
"""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on: bound once by the kernel's choice, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
