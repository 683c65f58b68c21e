"""What the bridge logged during a test: the JSON lines the ``log_stream`` fixture captured.

Tests assert on log events rather than on call order, so reading them back lives
in one place; the audit line of a login is read through :mod:`tests.harness.auth_client`.
"""

from __future__ import annotations

import io
import json
from typing import Any


def log_events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
