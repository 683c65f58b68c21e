#!/usr/bin/env bash
# Install or upgrade ringotel-bridge from this checkout, as a systemd service.
#
#   sudo deploy/install.sh                 # install, or upgrade in place
#   sudo ROOT=/srv/stage deploy/install.sh # stage into another root (no systemctl)
#
# Safe to run again: it upgrades the package in the virtualenv, refreshes the
# unit and the tmpfiles/sysusers snippets, repairs directory modes, and never
# touches an existing /etc/ringotel-bridge/bridge.toml or any secret.
#
# Environment (or the equivalent options):
#   ROOT=DIR      --root=DIR   install below DIR instead of / (for staging and tests)
#   SKIP_VENV=1   --skip-venv  do not create/upgrade the virtualenv (staging, tests)
#   PYTHON=...                 interpreter for the virtualenv (default: python3, >= 3.11)
#   PIP_*                      passed to pip as usual (e.g. PIP_INDEX_URL for a mirror)
set -euo pipefail
# Everything installed must be readable by the service user, whatever the
# invoking admin's umask (a 077 umask would leave the venv unreadable to it).
umask 022

readonly NAME=ringotel-bridge
readonly OPT_DIR=/opt/$NAME
readonly VENV=$OPT_DIR/venv
readonly ETC_DIR=/etc/$NAME
readonly CONFIG=$ETC_DIR/bridge.toml
readonly CRED_DIR=$ETC_DIR/credentials

ROOT=${ROOT:-}
SKIP_VENV=${SKIP_VENV:-0}
PYTHON=${PYTHON:-python3}

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
    printf '%s: error: %s\n' "$NAME install" "$*" >&2
    exit 1
}

say() {
    printf '==> %s\n' "$*"
}

while (($#)); do
    case $1 in
        --root=*) ROOT=${1#--root=} ;;
        --root)
            (($# >= 2)) || die "--root needs a directory"
            ROOT=$2
            shift
            ;;
        --skip-venv) SKIP_VENV=1 ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

# The checkout this script belongs to, whatever the current directory.
SRC=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly SRC

if [[ -n $ROOT ]]; then
    [[ -d $ROOT ]] || die "ROOT=$ROOT is not a directory"
    ROOT=$(cd -- "$ROOT" && pwd -P)
    [[ $ROOT != / ]] || ROOT=
fi
readonly ROOT

# Ownership can only be given away by root. A staging install into ROOT may run
# unprivileged; then modes are still right but owners are the invoking user's.
PRIVILEGED=1
if ((EUID != 0)); then
    [[ -n $ROOT ]] || die "must be run as root (or with ROOT=DIR to stage an install)"
    PRIVILEGED=0
fi
readonly PRIVILEGED

# --- check everything before changing anything ------------------------------------------------
UNIT_SRC=$SRC/deploy/systemd/$NAME.service
TMPFILES_SRC=$SRC/deploy/systemd/$NAME.tmpfiles
SYSUSERS_SRC=$SRC/deploy/systemd/$NAME.sysusers
EXAMPLE_SRC=$SRC/config/bridge.example.toml
for f in "$UNIT_SRC" "$TMPFILES_SRC" "$SYSUSERS_SRC" "$EXAMPLE_SRC"; do
    [[ -f $f ]] || die "missing $f: run this script from a complete checkout"
done
for tool in systemd-sysusers systemd-tmpfiles install cmp; do
    command -v "$tool" >/dev/null || die "$tool not found (is this a systemd host?)"
done
if [[ $SKIP_VENV != 1 ]]; then
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found; set PYTHON=/path/to/python3.11+"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "$PYTHON is older than 3.11"
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
        die "$PYTHON cannot create virtualenvs (Debian/Ubuntu: apt install python3-venv)"
fi

# install_file SRC DEST MODE: copy (replacing) and say whether anything changed.
install_file() {
    local src=$1 dest=$2 mode=$3 verb=installed
    if [[ -e $dest ]]; then
        if cmp -s -- "$src" "$dest"; then verb=unchanged; else verb=updated; fi
    fi
    install -D -m "$mode" -- "$src" "$dest"
    say "$verb ${dest#"$ROOT"}"
}

# --- service account, directories -------------------------------------------------------------
# The snippets go where systemd looks at boot, and are applied now from there, so
# boot and install always agree. Both tools take a basename and search the
# config directories below --root.
install_file "$SYSUSERS_SRC" "$ROOT/etc/sysusers.d/$NAME.conf" 0644
install_file "$TMPFILES_SRC" "$ROOT/etc/tmpfiles.d/$NAME.conf" 0644
root_args=()
[[ -z $ROOT ]] || root_args=(--root="$ROOT")
systemd-sysusers "${root_args[@]}" "$NAME.conf"
if ! systemd-tmpfiles --create "${root_args[@]}" "$NAME.conf"; then
    # Unprivileged staging: the modes are applied, only the chown fails.
    ((PRIVILEGED == 0)) || die "systemd-tmpfiles could not create $ETC_DIR"
    say "not root: $ETC_DIR created with the right modes but owned by $(id -un)"
fi
gid=$(awk -F: -v g="$NAME" '$1 == g { print $3 }' "$ROOT/etc/group")
[[ -n $gid ]] || die "group $NAME missing from $ROOT/etc/group after systemd-sysusers"

# --- the package --------------------------------------------------------------------------------
if [[ $SKIP_VENV == 1 ]]; then
    say "skipping the virtualenv (SKIP_VENV=1)"
else
    if [[ ! -x $ROOT$VENV/bin/python ]]; then
        say "creating virtualenv $VENV"
        "$PYTHON" -m venv "$ROOT$VENV"
    fi
    say "installing $SRC into $VENV"
    "$ROOT$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$SRC"
fi
# Reference copies for `systemctl help` (Documentation=) and for comparing the
# admin's config with new options after an upgrade.
[[ ! -f $SRC/README.md ]] || install_file "$SRC/README.md" "$ROOT$OPT_DIR/README.md" 0644
install_file "$EXAMPLE_SRC" "$ROOT$OPT_DIR/bridge.example.toml" 0644
# The command on PATH for the admin; anything else of that name is left alone.
link=$ROOT/usr/local/bin/$NAME
if [[ ! -e $link && ! -L $link ]]; then
    mkdir -p -- "$(dirname -- "$link")"
    ln -s -- "$VENV/bin/$NAME" "$link"
    say "linked /usr/local/bin/$NAME -> $VENV/bin/$NAME"
elif [[ $(readlink -- "$link") != "$VENV/bin/$NAME" ]]; then
    say "left ${link#"$ROOT"} alone (not ours); the command is $VENV/bin/$NAME"
fi

# --- the config: the admin's from the first run on --------------------------------------------
if [[ -e $ROOT$CONFIG ]]; then
    say "kept existing $CONFIG (compare with $OPT_DIR/bridge.example.toml for new options)"
else
    owner=()
    ((PRIVILEGED == 0)) || owner=(-o 0 -g "$gid")
    install -m 0640 "${owner[@]}" -- "$EXAMPLE_SRC" "$ROOT$CONFIG"
    say "installed $CONFIG from the example: edit it before starting the service"
fi

# --- the unit ---------------------------------------------------------------------------------
install_file "$UNIT_SRC" "$ROOT/etc/systemd/system/$NAME.service" 0644
running=0
if [[ -z $ROOT && -d /run/systemd/system ]]; then
    systemctl daemon-reload
    say "systemctl daemon-reload done"
    if systemctl is-active --quiet "$NAME.service"; then running=1; fi
else
    say "systemd is not running here (or ROOT is set): skipped systemctl daemon-reload"
fi

cat <<EOF

ringotel-bridge is installed. Next steps:

  1. Edit $CONFIG (directory URLs, base DN, groups, usernames).
     TLS files: install -m 0640 -g $NAME fullchain.pem privkey.pem $ETC_DIR/tls/

  2. Put the secrets in $CRED_DIR/ (root only; systemd hands them to the
     service with LoadCredential=), one secret per file, no trailing newline:
       cd $CRED_DIR && umask 077
       openssl rand -base64 48 | tr -d '\\n' > client-secret
       openssl rand -base64 48 | tr -d '\\n' > jwt-signing-key
       read -rsp 'LDAP bind password: ' pw && printf '%s' "\$pw" > ldap-bind-password; unset pw
     The unit loads exactly these three; for a setup without one of them, see
     the LoadCredential= comment in /etc/systemd/system/$NAME.service.

  3. Check the config and the service account against the directory:
       CREDENTIALS_DIRECTORY=$CRED_DIR $NAME check-config --connect --config $CONFIG

  4. Start it, now and at boot, and watch the log:
       systemctl enable --now $NAME
       journalctl -u $NAME -f

  5. Print the integration descriptor and send it to Ringotel support:
       $NAME descriptor --public-url https://sso.example.com --config $CONFIG
EOF
if ((running)); then
    printf '\n  The service is running the previous version: systemctl restart %s\n' "$NAME"
fi
