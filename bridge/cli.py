"""``ringotel-bridge``: serve, check-config, test-login, descriptor, hash-password.

Exit codes: 0 success (for test-login: accepted), 1 denied, 2 configuration error or
directory unavailable (test-login: 2 unavailable, config errors also 2).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bridge import __version__
from bridge.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, Config, load
from bridge.core.errors import ConfigError
from bridge.observability.logging import configure

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ringotel-bridge",
        description="Ringotel SSO identity provider backed by Active Directory / LDAP.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        help=f"config file (default: ${CONFIG_ENV} or {DEFAULT_CONFIG_PATH})",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the service")
    check = commands.add_parser("check-config", help="validate the config")
    check.add_argument("--connect", action="store_true", help="also bind and search")
    test = commands.add_parser("test-login", help="show what Ringotel would get for a login")
    test.add_argument("login")
    test.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    descriptor = commands.add_parser("descriptor", help="print the Ringotel descriptor")
    descriptor.add_argument("--public-url", required=True, help="e.g. https://sso.corp.example")
    descriptor.add_argument("--id", default="ringotel-ldap-bridge")
    descriptor.add_argument("--name", default="Company directory")
    descriptor.add_argument("--logo", default="")
    descriptor.add_argument(
        "--include-secret", action="store_true", help="put the real client secret in it"
    )
    commands.add_parser("hash-password", help="hash a password for the file directory")
    return parser


def config_path(argument: Path | None) -> Path:
    if argument is not None:
        return argument
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def _load(path: Path) -> Config:
    try:
        return load(path)
    except ConfigError as exc:
        print(f"ringotel-bridge: invalid configuration in {path}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "hash-password":
        from bridge.commands.hash_password import hash_password_command

        return hash_password_command()
    config = _load(config_path(args.config))
    if args.command == "serve":
        configure(config.settings.logging.format, config.settings.logging.level)
        _warn(config)
        from bridge.process.server import serve

        try:
            return asyncio.run(serve(config))
        except ConfigError as exc:
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return EXIT_CONFIG
    configure("console", "warning", stream=sys.stderr)
    if args.command == "check-config":
        from bridge.commands.check_config import check_config

        return asyncio.run(check_config(config, connect=args.connect))
    if args.command == "test-login":
        from bridge.commands.test_login import test_login

        return asyncio.run(test_login(config, args.login, args.password_stdin))
    from bridge.commands.descriptor import DescriptorError, build_descriptor, dump

    try:
        document = build_descriptor(
            config,
            public_url=args.public_url,
            service_id=args.id,
            name=args.name,
            logo=args.logo,
            include_secret=args.include_secret,
        )
    except DescriptorError as exc:
        print(f"ringotel-bridge: cannot build a working descriptor: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(dump(document))
    return 0


def _warn(config: Config) -> None:
    import structlog

    log = structlog.get_logger("bridge.config")
    for warning in config.warnings:
        log.warning("config_warning", warning=warning)
