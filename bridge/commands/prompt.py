"""Reading a password for a command: from the terminal, or one line of stdin.

One rule for ``hash-password`` and ``test-login``: nothing is trimmed but the line
ending, an empty password is refused (an LDAP bind with one would be anonymous), and
stdin that is not UTF-8 is refused (nobody could type that password at login).
"""

from __future__ import annotations

import getpass
import sys

from bridge.directory.passwords import as_typed

NOT_UTF8 = "the password is not valid UTF-8; nobody could type it at login"


class NoPassword(Exception):
    """No usable password was given; the message says why."""


def read_password(
    prompt: str = "Password: ", confirm: bool = False, from_stdin: bool = False
) -> str:
    """Ask on a terminal (twice with ``confirm``: a typo would lock the user out), else
    (or with ``from_stdin``) read one line of stdin."""
    try:
        if sys.stdin.isatty() and not from_stdin:
            password = getpass.getpass(prompt)
            if confirm and password and getpass.getpass("Again: ") != password:
                raise NoPassword("the passwords do not match")
        else:
            line = sys.stdin.readline()
            if not line:
                raise NoPassword("no password given")
            password = line.removesuffix("\n").removesuffix("\r")
    except (EOFError, KeyboardInterrupt):
        raise NoPassword("no password given") from None
    except UnicodeDecodeError:  # strict stdin that is not UTF-8
        raise NoPassword(NOT_UTF8) from None
    if password == "":
        raise NoPassword("refusing an empty password")
    if as_typed(password) is None:  # stdin that was not UTF-8 decodes to lone surrogates
        raise NoPassword(NOT_UTF8)
    return password
