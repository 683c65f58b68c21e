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
# The dependencies come only from deploy/requirements.lock, each file checked against
# its sha256 there (pip --require-hashes; refresh the lock with scripts/lock), and only
# as wheels. Downloading and building run as the service account, not root; the
# bridge's own wheel goes in with --no-deps, so nothing the lock does not name can.
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
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
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
LOCK=$SRC/deploy/requirements.lock
BUILD_LOCK=$SRC/deploy/build-requirements.lock
needed=("$UNIT_SRC" "$TMPFILES_SRC" "$SYSUSERS_SRC" "$EXAMPLE_SRC")
[[ $SKIP_VENV == 1 ]] || needed+=("$LOCK" "$BUILD_LOCK" "$SRC/pyproject.toml" "$SRC/bridge/__init__.py")
for f in "${needed[@]}"; do
    [[ -f $f ]] || die "missing $f: run this script from a complete checkout"
done
tools=(systemd-sysusers systemd-tmpfiles install cmp)
((EUID != 0)) || [[ $SKIP_VENV == 1 ]] || tools+=(setpriv)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || die "$tool not found (is this a systemd host?)"
done
if [[ $SKIP_VENV != 1 ]]; then
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found; set PYTHON=/path/to/python3.11+"
    PYTHON=$(command -v "$PYTHON")
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
# Every step that reaches the network or runs a package's code runs as the service
# account, not as root: setpriv to its uid/gid from $ROOT/etc/passwd (numeric, so this
# works for a staging ROOT too), in a scratch folder of its own. Unprivileged (staging),
# they run as the invoking user. Not nobody: other daemons run as nobody and could
# tamper with the build; what the service account could tamper with only ever runs as
# the service account (and root re-checks every dependency's hash anyway).
#   1. pip download the locked dependencies, --require-hashes, wheels only: a lock
#      that does not match fails here, before anything is built or installed;
#   2. build the bridge's wheel from a copy of the source, with the build backend
#      (hatchling) installed from deploy/build-requirements.lock, hash-checked too;
#   3. as root, check that the downloaded wheels meet the bridge's requirements (a
#      dry run), then install them (--no-index, hashes checked again) and the
#      bridge's wheel with --no-deps; `pip check` last.
# Root only unpacks wheels: no package's build code ever runs as root.
pip_quiet=(--quiet --disable-pip-version-check --no-cache-dir)
locked=(--require-hashes --no-deps --only-binary=:all:)
as_builder=()
scratch=

prepare_scratch() {
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/$NAME-build.XXXXXX")
    trap 'rm -rf -- "$scratch"' EXIT
    mkdir -- "$scratch/src" "$scratch/deps" "$scratch/wheel"
    cp -R -- "$SRC/pyproject.toml" "$SRC/bridge" "$LOCK" "$BUILD_LOCK" "$scratch/src/"
    [[ ! -f $SRC/README.md ]] || cp -- "$SRC/README.md" "$scratch/src/"
    find "$scratch/src" -name __pycache__ -prune -exec rm -rf -- {} +
    as_builder=(env HOME="$scratch" TMPDIR="$scratch")
    builder=$(id -un)
    if ((EUID == 0)); then
        local uid gid
        uid=$(awk -F: -v u="$NAME" '$1 == u { print $3 }' "$ROOT/etc/passwd")
        gid=$(awk -F: -v u="$NAME" '$1 == u { print $4 }' "$ROOT/etc/passwd")
        [[ -n $uid && -n $gid ]] || die "user $NAME missing from $ROOT/etc/passwd"
        chown -R -- "$uid:$gid" "$scratch"
        as_builder+=(setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs --)
        builder=$NAME
        "${as_builder[@]}" test -w "$scratch" ||
            die "the build account ($NAME) cannot reach $scratch; set TMPDIR=/tmp"
        "${as_builder[@]}" "$PYTHON" -c '' 2>/dev/null ||
            die "the build account ($NAME, uid $uid) cannot run $PYTHON; set PYTHON=/usr/bin/python3"
    fi
}

fetch_dependencies() {
    say "downloading the dependencies in ${LOCK#"$SRC/"} (hash-checked) as $builder"
    "${as_builder[@]}" "$ROOT$VENV/bin/python" -m pip download "${pip_quiet[@]}" "${locked[@]}" \
        --dest "$scratch/deps" -r "$scratch/src/$(basename -- "$LOCK")"
}

build_wheel() {
    say "building the $NAME wheel as $builder"
    # A pip-less virtualenv for the build backend, driven by the service venv's pip
    # (pip --python): no second copy of pip to unpack.
    local build_pip=("$ROOT$VENV/bin/python" -m pip --python "$scratch/build-venv/bin/python")
    "${as_builder[@]}" "$PYTHON" -m venv --without-pip "$scratch/build-venv"
    "${as_builder[@]}" "${build_pip[@]}" install "${pip_quiet[@]}" \
        "${locked[@]}" -r "$scratch/src/$(basename -- "$BUILD_LOCK")"
    "${as_builder[@]}" "${build_pip[@]}" wheel "${pip_quiet[@]}" \
        --no-deps --no-build-isolation --wheel-dir "$scratch/wheel" "$scratch/src"
    wheels=("$scratch"/wheel/*.whl)
    [[ ${#wheels[@]} == 1 && -f ${wheels[0]} ]] || die "the build made no single wheel"
}

if [[ $SKIP_VENV == 1 ]]; then
    say "skipping the virtualenv (SKIP_VENV=1)"
else
    if [[ ! -x $ROOT$VENV/bin/python ]]; then
        say "creating virtualenv $VENV"
        "$PYTHON" -m venv "$ROOT$VENV"
    fi
    prepare_scratch
    fetch_dependencies
    build_wheel
    # Root's pip sees only the scratch folder: no index, no find-links from the
    # environment or a pip.conf.
    root_pip=(env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null "$ROOT$VENV/bin/python" -m pip)
    # Before touching the venv: can the bridge's requirements be met from the locked
    # wheels alone? (A dependency added to pyproject.toml but not to the lock.) Root
    # writes nothing into the build account's folder, so captured, not redirected.
    if ! resolved=$("${root_pip[@]}" install "${pip_quiet[@]}" --dry-run --ignore-installed \
        --no-index --find-links "$scratch/deps" "${wheels[0]}" 2>&1); then
        die "the lock lacks what the bridge needs: $(grep -m1 ERROR <<<"$resolved");" \
            "refresh the lock (scripts/lock)"
    fi
    say "installing the locked dependencies and $(basename -- "${wheels[0]}") into $VENV"
    "${root_pip[@]}" install "${pip_quiet[@]}" "${locked[@]}" \
        --no-index --find-links "$scratch/deps" -r "$LOCK"
    "${root_pip[@]}" install "${pip_quiet[@]}" --no-index --no-deps --force-reinstall "${wheels[0]}"
    "${root_pip[@]}" check >/dev/null ||
        die "$("${root_pip[@]}" check 2>&1 | head -5); refresh the lock (scripts/lock)"
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
       CREDENTIALS_DIRECTORY=$CRED_DIR $NAME descriptor --public-url https://sso.example.com --config $CONFIG
EOF
if ((running)); then
    printf '\n  The service is running the previous version: systemctl restart %s\n' "$NAME"
fi
