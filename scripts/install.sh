#!/bin/sh
# Install event-agent as a systemd service. Run as root from a checkout: sudo scripts/install.sh
#
# Lays down:
#   $PREFIX/venv                      a virtual environment with the project installed
#   $PREFIX/README.md                 the documentation the unit points to
#   $BINDIR/event-agent               a wrapper that runs the CLI with the service's settings
#   $UNITDIR/event-agent.service      the systemd unit
#   $CONFDIR/agent.env                the settings (from systemd/event-agent.env.example; never overwritten)
#   $CONFDIR/agent.env.example        the current example, refreshed on every install
# then creates the system user and runs: systemctl daemon-reload; systemctl enable --now event-agent
# (a restart instead when the service was already running, so an upgrade takes effect).
#
# Variables (all optional):
#   DESTDIR        stage everything under this root (packaging, tests): no user, no systemctl, no chown
#   PREFIX         install root of the program (/opt/event-agent)
#   CONFDIR        settings directory (/etc/event-agent)
#   UNITDIR        systemd unit directory (/etc/systemd/system)
#   BINDIR         where the event-agent wrapper goes (/usr/local/bin)
#   STATEDIR       the service's state directory, for the wrapper (/var/lib/event-agent)
#   PYTHON         the Python 3.11+ interpreter that builds the venv (python3.11, else python3)
#   NO_SYSTEMCTL=1 do not call systemctl
#   EVENT_AGENT_PIP_ARGS  extra pip install arguments, e.g. "--no-deps --no-index --no-build-isolation"
#                         for an offline install whose dependencies are provided another way
set -eu

SERVICE_USER=event-agent
SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/event-agent}
CONFDIR=${CONFDIR:-/etc/event-agent}
UNITDIR=${UNITDIR:-/etc/systemd/system}
BINDIR=${BINDIR:-/usr/local/bin}
STATEDIR=${STATEDIR:-/var/lib/event-agent}
NO_SYSTEMCTL=${NO_SYSTEMCTL:-}
EVENT_AGENT_PIP_ARGS=${EVENT_AGENT_PIP_ARGS:-}

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Staged (DESTDIR) or unprivileged installs skip what only a real root install can do.
privileged() { [ -z "$DESTDIR" ] && is_root; }

pick_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then echo "$candidate"; return; fi
    done
    die "no python3 found; set PYTHON=/path/to/python3.11"
}

check_python() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
        || die "$1 is older than Python 3.11"
    # The unit has ProtectHome=yes: a base interpreter under /root or /home is invisible to the service.
    base=$("$1" -c 'import os, sys; print(os.path.realpath(sys.base_prefix))')
    case "$base" in
        /root/*|/home/*) say "warning: $1 lives in $base, hidden from the service by ProtectHome=yes;" \
            "use the system python3 (PYTHON=/usr/bin/python3) for a real install" ;;
    esac
}

# Copy only what the package build needs, so the build never writes into the checkout.
stage_source() {
    build=$(mktemp -d)
    trap 'rm -rf "$build"' EXIT
    cp "$SRC/pyproject.toml" "$SRC/README.md" "$build/"
    (cd "$SRC" && tar cf - --exclude=__pycache__ agent) | (cd "$build" && tar xf -)
}

make_venv() {
    venv="$DESTDIR$PREFIX/venv"
    mkdir -p "$DESTDIR$PREFIX"
    if [ ! -x "$venv/bin/python" ]; then
        say "creating the virtual environment $venv"
        "$1" -m venv "$venv"
    fi
    say "installing event-agent into $venv"
    # shellcheck disable=SC2086  # EVENT_AGENT_PIP_ARGS is a list of words on purpose
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade $EVENT_AGENT_PIP_ARGS "$build"
    cp "$SRC/README.md" "$DESTDIR$PREFIX/README.md"
    unstage_paths "$venv"
}

# Under DESTDIR the venv's scripts name the staging path; point them at the final one.
unstage_paths() {
    [ -n "$DESTDIR" ] || return 0
    for file in "$1"/bin/*; do
        if [ -f "$file" ] && [ ! -L "$file" ] && grep -IqF "$DESTDIR$PREFIX" "$file"; then
            sed -i "s|$DESTDIR$PREFIX|$PREFIX|g" "$file"
        fi
    done
}

make_user() {
    if ! privileged; then
        say "skipping the system user '$SERVICE_USER' (not root, or staging under DESTDIR)"
        return
    fi
    if id "$SERVICE_USER" >/dev/null 2>&1; then
        say "system user '$SERVICE_USER' exists"
        return
    fi
    say "creating the system user '$SERVICE_USER'"
    useradd --system --user-group --home-dir "$STATEDIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "event-agent (Asterisk Event Manager)" "$SERVICE_USER"
}

install_unit() {
    unit="$DESTDIR$UNITDIR/event-agent.service"
    mkdir -p "$DESTDIR$UNITDIR"
    sed -e "s|/opt/event-agent|$PREFIX|g" -e "s|/etc/event-agent/|$CONFDIR/|g" \
        "$SRC/systemd/event-agent.service" >"$unit.tmp"
    chmod 0644 "$unit.tmp"
    mv "$unit.tmp" "$unit"
    say "unit installed: $unit"
}

install_env() {
    dir="$DESTDIR$CONFDIR"
    mkdir -p "$dir"
    chmod 0750 "$dir"
    install -m 0644 "$SRC/systemd/event-agent.env.example" "$dir/agent.env.example"
    if [ -e "$dir/agent.env" ]; then
        say "keeping the existing settings $dir/agent.env"
    else
        install -m 0640 "$SRC/systemd/event-agent.env.example" "$dir/agent.env"
        say "settings installed: $dir/agent.env (set EVENT_AGENT_AMI__SECRET there)"
    fi
    if privileged; then
        chown "root:$SERVICE_USER" "$dir" "$dir/agent.env"
    fi
}

install_wrapper() {
    mkdir -p "$DESTDIR$BINDIR"
    wrapper="$DESTDIR$BINDIR/event-agent"
    cat >"$wrapper.tmp" <<EOF
#!/bin/sh
# event-agent with the service's settings (installed by scripts/install.sh).
: "\${STATE_DIRECTORY:=$STATEDIR}"
export STATE_DIRECTORY
if [ -r "$CONFDIR/agent.env" ]; then
    set -- --env-file "$CONFDIR/agent.env" "\$@"
fi
exec "$PREFIX/venv/bin/event-agent" "\$@"
EOF
    chmod 0755 "$wrapper.tmp"
    mv "$wrapper.tmp" "$wrapper"
}

start_service() {
    if [ -n "$NO_SYSTEMCTL" ] || [ -n "$DESTDIR" ]; then
        say "skipping systemctl (NO_SYSTEMCTL or DESTDIR set)"
        return
    fi
    systemctl daemon-reload
    if systemctl is-active --quiet event-agent; then
        systemctl restart event-agent
        say "event-agent restarted"
    else
        systemctl enable --now event-agent
        say "event-agent enabled and started"
    fi
}

main() {
    if [ -z "$DESTDIR" ] && ! is_root; then
        die "run as root (or set DESTDIR to stage the files under another root)"
    fi
    python=$(pick_python)
    check_python "$python"
    stage_source
    make_venv "$python"
    make_user
    install_unit
    install_env
    install_wrapper
    start_service
    say "done. Check the settings with: event-agent check-config; the service with: event-agent status"
}

main "$@"
