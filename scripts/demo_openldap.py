"""The bridge against a real OpenLDAP, in one command (needs Debian's slapd installed).

Starts the test suite's private slapd (seeded with tests/harness/openldap_people.py:
jdoe / "correct horse battery staple", ...) on a free loopback port, writes a config
for it into a temporary folder (secrets in 0600 files, like production) and runs
``ringotel-bridge serve`` on 127.0.0.1:8080 until Ctrl-C. ``--slapd-pid-file`` lets a
second shell stop and start slapd (``kill -USR1 <demo pid>`` toggles it) to watch
the bridge answer 503 while the directory is down and 200 again once it is back.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import openldap_people as people  # noqa: E402
from tests.harness.slapd import SlapdServer  # noqa: E402

CONFIG = """\
[server]
listen = ["127.0.0.1:{port}"]
ops_listen = "127.0.0.1:{ops_port}"

[client_auth]
mode = "basic"
username = "ringotel"
password_file = "client-password"

[directory]
type = "ldap"
flavor = "openldap"
urls = ["{url}"]
allow_plaintext = true          # loopback demo only; use ldaps:// or start_tls in production
bind_dn = "{bind_dn}"
bind_password_file = "ldap-bind-password"
base_dn = "{base_dn}"

[groups]
allow = ["{allowed}"]
nested = true
strategy = "member_search"

[[usernames]]
attribute = "telephoneNumber"

[logging]
format = "console"
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--ops-port", type=int, default=9100)
    parser.add_argument("--client-password", default="demo-client-password")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ringotel-demo-"))
    slapd = SlapdServer(work / "slapd")
    slapd.start()

    def toggle_slapd(signum: int, frame: object) -> None:
        if slapd.running:
            slapd.stop()
            print("demo: slapd stopped", flush=True)
        else:
            slapd.start()
            print("demo: slapd started", flush=True)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGUSR1, toggle_slapd)
    signal.signal(signal.SIGTERM, interrupt)
    for name, value in (
        ("client-password", args.client_password),
        ("ldap-bind-password", people.SERVICE_PASSWORD),
    ):
        secret = work / name
        secret.write_text(value)
        secret.chmod(0o600)
    config = work / "bridge.toml"
    config.write_text(
        CONFIG.format(
            port=args.port,
            ops_port=args.ops_port,
            url=slapd.url,
            bind_dn=people.SERVICE_DN,
            base_dn=people.BASE_DN,
            allowed=people.GROUP_DNS[people.ALLOWED_GROUP],
        )
    )
    print(
        f"demo: slapd {slapd.url}; config {config}; kill -USR1 {os.getpid()} stops/starts slapd",
        flush=True,
    )
    bridge = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bridge", "--config", str(config), "serve"], cwd=ROOT
    )
    try:
        return bridge.wait()
    except KeyboardInterrupt:
        bridge.send_signal(signal.SIGTERM)
        return bridge.wait()
    finally:
        slapd.stop()
        if os.environ.get("KEEP_DEMO_DIR") != "1":
            subprocess.run(["rm", "-rf", str(work)], check=False)  # noqa: S603, S607


if __name__ == "__main__":
    raise SystemExit(main())
