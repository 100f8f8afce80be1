#!/bin/sh
# test_service.sh — verdictd as a systemd service, without systemd: a
# notification socket of our own (NOTIFY_SOCKET) receives what sd_notify
# sends, so the test sees readiness, reloads, the watchdog being fed while
# the pipeline makes progress and not fed while a worker is stuck, and the
# stop.  Also checks the shipped unit with systemd-analyze verify.
#
# usage: test_service.sh VERDICTD UNIT
# Root only (fanotify); marks only a private temporary directory.
set -u
. "$(dirname "$0")/tap.sh"

# What explains a failure: the daemon's stderr and the notifications.
tap_diagnose() {
	[ -s "$TMP/daemon.err" ] && sed 's/^/# verdictd: /' "$TMP/daemon.err"
	[ -s "$TMP/notes" ] && sed 's/^/# notify: /' "$TMP/notes"
	return 0
}

VERDICTD=${1:?usage: test_service.sh VERDICTD UNIT}
UNIT=${2:?usage: test_service.sh VERDICTD UNIT}
# Absolute: the unit's ExecStart must be.
VERDICTD=$(cd "$(dirname "$VERDICTD")" && pwd)/$(basename "$VERDICTD")
PY=$(command -v python3 || true)

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP fanotify needs root"
	exit 0
fi
if [ -z "$PY" ]; then
	echo "1..0 # SKIP python3 is needed for the notification socket"
	exit 0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vd-service.XXXXXX") || exit 1
tsan_log "$TMP"
DPID=
LPID=

cleanup() {
	for p in $DPID $LPID; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.5
	for p in $DPID $LPID; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The shipped unit parses (its ExecStart pointed at this build).
if command -v systemd-analyze >/dev/null 2>&1; then
	sed "s#/usr/local/sbin/verdictd#$VERDICTD#g" "$UNIT" \
	    >"$TMP/verdictd.service"
	if systemd-analyze verify --man=no "$TMP/verdictd.service" \
	    >"$TMP/verify" 2>&1; then
		ok "systemd-analyze verify accepts the unit"
	else
		sed 's/^/# /' "$TMP/verify"
		not_ok "systemd-analyze verify accepts the unit"
	fi
else
	n=$((n + 1))
	echo "ok $n - systemd-analyze verify # SKIP no systemd-analyze"
fi
if grep -Eq '^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|ProtectKernelTunables)=' "$UNIT"; then
	not_ok "the unit has no private mount namespace (mount marks)"
else
	ok "the unit has no private mount namespace (mount marks)"
fi

# The notification socket: one line per datagram, "seconds message".
"$PY" - "$TMP/notify" "$TMP/notes" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
t0 = time.monotonic()
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode("utf-8", "replace")
        for line in msg.split("\n"):
            out.write("%.3f %s\n" % (time.monotonic() - t0, line))
EOF
LPID=$!
i=0
while [ ! -S "$TMP/notify" ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done

mkdir "$TMP/w"
echo a >"$TMP/w/a"
printf '[pipeline]\nworkers = 1\n[test]\nblock_worker = no\n' >"$TMP/conf"
# The watchdog at 400 ms: fed every 200 ms while all is well.
NOTIFY_SOCKET=$TMP/notify WATCHDOG_USEC=400000 \
    timeout -s KILL 60 "$VERDICTD" -c "$TMP/conf" --watch "$TMP/w" \
    --control-socket off >"$TMP/daemon.out" 2>"$TMP/daemon.err" &
DPID=$!
# Signals go to verdictd itself, not through timeout(1).
i=0
VPID=
while [ -z "$VPID" ] && [ $i -lt 50 ]; do
	VPID=$(pgrep -P "$DPID" 2>/dev/null | head -n 1)
	[ -n "$VPID" ] || sleep 0.1
	i=$((i + 1))
done

# count PATTERN: notifications so far matching PATTERN.
count() {
	grep -c "$1" "$TMP/notes" 2>/dev/null || true
}

# wait_count PATTERN N: waits until N notifications match PATTERN; false
# when they do not within 10 s.  The checks wait for what they expect
# rather than sleep and hope: the bound only turns a hang into a failure.
wait_count() {
	_i=0
	while [ "$(count "$1")" -lt "$2" ]; do
		[ $_i -ge 100 ] && return 1
		sleep 0.1
		_i=$((_i + 1))
	done
	return 0
}

wait_count 'READY=1' 1
check "READY=1 once the marks are placed" [ "$(count READY=1)" -ge 1 ]
check "a STATUS= line with the readiness" \
    grep -q "STATUS=answering fanotify events" "$TMP/notes"

# Fed every 200 ms: three more feeds come within 0.6 s, or within the
# bound on a machine that keeps the watchdog thread from its CPU.
w0=$(count 'WATCHDOG=1')
wait_count 'WATCHDOG=1' $((w0 + 3))
w1=$(count 'WATCHDOG=1')
check "the watchdog is fed while the pipeline works ($w0 -> $w1)" \
    [ $((w1 - w0)) -ge 3 ]

# Block the only worker with events queued behind it: the timer still
# answers the opens, but the watchdog must go hungry.
printf '[pipeline]\nworkers = 1\n[test]\nblock_worker = yes\n' >"$TMP/conf"
kill -HUP "$VPID"
wait_count 'RELOADING=1' 1 && wait_count 'READY=1' 2
check "SIGHUP sends RELOADING=1 and READY=1 again" \
    [ "$(count RELOADING=1)" -ge 1 -a "$(count READY=1)" -ge 2 ]
t0=$(date +%s%N)
for f in 1 2 3; do
	timeout -s KILL 10 cat "$TMP/w/a" >/dev/null &
done
# The watchdog thread says so once it stops feeding: wait for that, not
# for a time.  Its last feed came a whole interval (200 ms) before, time
# enough for the listener to write it down.  Then 1.2 s, six intervals,
# without a feed.
i=0
while ! grep -q "watchdog: .*no progress" "$TMP/daemon.err" &&
    [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
w2=$(count 'WATCHDOG=1')
sleep 1.2
w3=$(count 'WATCHDOG=1')
check "the watchdog is not fed while a worker is stuck ($w2 -> $w3)" \
    [ "$w3" -eq "$w2" ]
check "the daemon says why it stopped feeding the watchdog" \
    grep -q "watchdog: .*no progress" "$TMP/daemon.err"

# Release the worker: feeding resumes.
printf '[pipeline]\nworkers = 1\n[test]\nblock_worker = no\n' >"$TMP/conf"
kill -HUP "$VPID"
wait_count 'WATCHDOG=1' $((w3 + 2))
w4=$(count 'WATCHDOG=1')
check "the watchdog is fed again once the worker is free ($w3 -> $w4)" \
    [ $((w4 - w3)) -ge 2 ]

kill -TERM "$VPID"
wait "$DPID"
rc=$?
DPID=
check "SIGTERM: exit status 0 (got $rc)" [ "$rc" -eq 0 ]
check "SIGTERM sends STOPPING=1" [ "$(count STOPPING=1)" -ge 1 ]

tsan_check "$VERDICTD"
tap_done
