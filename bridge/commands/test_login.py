"""``test-login LOGIN``: what Ringotel would get for this login, and why.

It asks for the password (or reads one line of stdin), builds the Service that
``serve`` would run and walks the same login code a request does, then prints every
step, the outcome and the exact body Ringotel would receive.

Exit codes: 0 accepted, 1 denied, 2 configuration error or directory unavailable.
The password is never printed, and nothing here logs it.
"""

from __future__ import annotations

import json
import sys

from bridge.commands.check_config import EXIT_FAILED, EXIT_OK, build, say
from bridge.commands.prompt import NoPassword, read_password
from bridge.config import Config
from bridge.core.answers import Answer, answer
from bridge.core.outcomes import Accepted, Outcome, Rejected, Trace
from bridge.process.wiring import Service

EXIT_DENIED = 1


async def test_login(config: Config, login: str, password_stdin: bool) -> int:
    """Run one login through the real code and show what Ringotel would get, and why."""
    try:
        password = read_password(f"Password for {login}: ", from_stdin=password_stdin)
    except NoPassword as exc:
        print(f"ringotel-bridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    service = build(config)
    if service is None:
        return EXIT_FAILED
    trace = Trace()
    deadline = config.settings.server.request_deadline
    try:
        outcome = await service.login.login(login, password, trace, deadline)
    finally:
        await service.close()
    _print_steps(login, trace)
    return _report(service, outcome)


def _print_steps(login: str, trace: Trace) -> None:
    """The steps; the first says which directory the login was routed to, and why."""
    say(f"login: {login}")
    for step in trace.steps:
        say(f"  {step}")
    say(f"directory: {trace.directory or '(none: refused before routing)'}")


def _report(service: Service, outcome: Outcome) -> int:
    if isinstance(outcome, Accepted):
        say("ACCEPTED")
        say(f"  DN: {outcome.dn}")
        if outcome.server:
            say(f"  server: {outcome.server}")
        groups = "not read (no allow/deny lists)"
        if outcome.groups is not None:
            groups = str(len(outcome.groups))
        say(f"  groups: {groups}")
        say(f"  usernames: {', '.join(outcome.usernames)}")
        say(f"  display name: {outcome.display_name}")
        if outcome.password_expires_in is not None:
            say(f"  password expires in {outcome.password_expires_in / 86400:.1f} days")
        _ringotel_gets(answer(service.template, outcome))
        return EXIT_OK
    if isinstance(outcome, Rejected):
        say(f"DENIED: {outcome.reason}" + (f" ({outcome.detail})" if outcome.detail else ""))
        if outcome.dn:
            say(f"  DN: {outcome.dn}")
        _ringotel_gets(answer(service.template, outcome))
        return EXIT_DENIED
    where = f"{outcome.server}: " if outcome.server else ""
    kind = "MISCONFIGURED" if outcome.misconfigured else "UNAVAILABLE"
    say(f"{kind}: {where}{outcome.detail}")
    _ringotel_gets(answer(service.template, outcome))
    return EXIT_FAILED


def _ringotel_gets(reply: Answer) -> None:
    """The body exactly as aiohttp's json_response serialises it."""
    say(f"Ringotel would get HTTP {reply.status} with:")
    say(json.dumps(reply.body))
