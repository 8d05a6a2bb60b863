#!/bin/sh
# Remove event-agent installed by scripts/install.sh. Run as root: sudo scripts/uninstall.sh [--purge]
#
# Removes the service (stop, disable), the unit, the program ($PREFIX) and the event-agent wrapper.
# Keeps, unless --purge: the settings ($CONFDIR, they hold the AMI secret an administrator typed),
# the state directory ($STATEDIR: the database with actions, activity log and the admin token)
# and the system user. --purge removes those as well.
# Takes the same variables as install.sh: DESTDIR, PREFIX, CONFDIR, UNITDIR, BINDIR, STATEDIR, NO_SYSTEMCTL.
set -eu

SERVICE_USER=event-agent
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/event-agent}
CONFDIR=${CONFDIR:-/etc/event-agent}
UNITDIR=${UNITDIR:-/etc/systemd/system}
BINDIR=${BINDIR:-/usr/local/bin}
STATEDIR=${STATEDIR:-/var/lib/event-agent}
NO_SYSTEMCTL=${NO_SYSTEMCTL:-}
PURGE=

say() { printf 'uninstall: %s\n' "$*"; }
die() { printf 'uninstall: error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }
privileged() { [ -z "$DESTDIR" ] && is_root; }
use_systemctl() { [ -z "$NO_SYSTEMCTL" ] && [ -z "$DESTDIR" ]; }

parse_args() {
    for arg in "$@"; do
        case "$arg" in
            --purge) PURGE=1 ;;
            -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
            *) die "unknown argument '$arg' (only --purge)" ;;
        esac
    done
}

stop_service() {
    if use_systemctl; then
        systemctl disable --now event-agent 2>/dev/null || say "the service was not enabled"
    else
        say "skipping systemctl (NO_SYSTEMCTL or DESTDIR set)"
    fi
}

remove_program() {
    # Refuse to remove anything that does not look like our own install root.
    if [ -d "$DESTDIR$PREFIX" ] && [ ! -d "$DESTDIR$PREFIX/venv" ]; then
        die "$DESTDIR$PREFIX has no venv: not removing it"
    fi
    rm -f "$DESTDIR$UNITDIR/event-agent.service"
    rm -rf "$DESTDIR$PREFIX"
    wrapper="$DESTDIR$BINDIR/event-agent"
    if [ -f "$wrapper" ] && grep -q "installed by scripts/install.sh" "$wrapper"; then
        rm -f "$wrapper"
    fi
    say "removed $DESTDIR$PREFIX and $DESTDIR$UNITDIR/event-agent.service"
    if use_systemctl; then
        systemctl daemon-reload
        systemctl reset-failed event-agent 2>/dev/null || true
    fi
}

purge() {
    if [ -z "$PURGE" ]; then
        say "kept $DESTDIR$CONFDIR and $DESTDIR$STATEDIR (run with --purge to remove them)"
        return
    fi
    rm -rf "$DESTDIR$CONFDIR" "$DESTDIR$STATEDIR"
    say "purged $DESTDIR$CONFDIR and $DESTDIR$STATEDIR"
    if privileged && id "$SERVICE_USER" >/dev/null 2>&1; then
        userdel "$SERVICE_USER"
        say "removed the system user '$SERVICE_USER'"
    fi
}

main() {
    parse_args "$@"
    if [ -z "$DESTDIR" ] && ! is_root; then
        die "run as root (or set DESTDIR to remove a staged install)"
    fi
    stop_service
    remove_program
    purge
}

main "$@"
