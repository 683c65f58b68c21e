"""``ringotel-bridge``: serve, check-config, test-login, descriptor, hash-password.

``--config FILE`` may stand before or after the command (``ringotel-bridge check-config
--config FILE`` is how people type it); without it, ``$RINGOTEL_BRIDGE_CONFIG``, else
``/etc/ringotel-bridge/bridge.toml``. ``hash-password`` reads no config and refuses one.

Exit codes: 0 success (for test-login: accepted), 1 denied (hash-password: no usable
password), 2 configuration error, directory unavailable, or a usage error.
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
#: Refused rather than ignored: whoever adds it expects the config to change the hash.
NO_CONFIG = "hash-password reads no config file (the hash is the same for any); drop --config"


def _parser() -> argparse.ArgumentParser:
    # --config is accepted before and after the command, as admins type it either way;
    # SUPPRESS keeps a subcommand's absent option from hiding one given before it.
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"config file (default: ${CONFIG_ENV} or {DEFAULT_CONFIG_PATH})",
    )
    parser = argparse.ArgumentParser(
        prog="ringotel-bridge",
        description="Ringotel SSO identity provider backed by Active Directory / LDAP.",
        epilog="--config may be given before or after the command.",
        parents=[config],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", parents=[config], help="run the service")
    check = commands.add_parser("check-config", parents=[config], help="validate the config")
    check.add_argument("--connect", action="store_true", help="also bind and search")
    test = commands.add_parser(
        "test-login", parents=[config], help="show what Ringotel would get for a login"
    )
    test.add_argument("login")
    test.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    descriptor = commands.add_parser(
        "descriptor", parents=[config], help="print the Ringotel descriptor"
    )
    descriptor.add_argument("--public-url", required=True, help="e.g. https://sso.corp.example")
    descriptor.add_argument("--id", default="ringotel-ldap-bridge")
    descriptor.add_argument("--name", default="Company directory")
    descriptor.add_argument("--logo", default="")
    descriptor.add_argument(
        "--include-secret", action="store_true", help="put the real client secret in it"
    )
    hash_password = commands.add_parser(
        "hash-password", help="hash a password for the file directory (reads no config)"
    )
    # parsed only to be refused by name, rather than as an unknown argument
    hash_password.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
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
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "hash-password":
        if "config" in args:
            parser.error(NO_CONFIG)
        from bridge.commands.hash_password import hash_password_command

        return hash_password_command()
    config = _load(config_path(getattr(args, "config", None)))
    if args.command == "serve":
        configure(config.settings.logging.format, config.settings.logging.level, once=True)
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
