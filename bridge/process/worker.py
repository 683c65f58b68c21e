"""One worker process of ``server.workers = N`` (started by ``bridge.process.workers``).

``python -m bridge.process.worker --config FILE --workers N --ops-socket PATH
--listen HOST:PORT ...``: the supervisor's resolved addresses, bound again here with
SO_REUSEPORT. Not meant to be run by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from bridge.config import load
from bridge.core.errors import ConfigError
from bridge.observability.logging import configure
from bridge.process.server import Role, serve


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ringotel-bridge worker")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--ops-socket", required=True)
    parser.add_argument("--listen", action="append", type=_address, required=True)
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    configure(config.settings.logging.format, config.settings.logging.level, once=True)
    role = Role(listen=tuple(args.listen), ops_socket=args.ops_socket, workers=args.workers)
    return asyncio.run(serve(config, role))


if __name__ == "__main__":
    sys.exit(main())
