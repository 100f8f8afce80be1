#!/bin/sh
# test_verdictctl.sh — verdictctl against a running verdictd (gen backend):
# every output format, the commands, and the exit status of each failure
# the operator meets (unknown name, malformed name, no daemon, not root).
# Then the inputs verdictd must refuse at once rather than block on (a FIFO
# as its configuration, policy, included rules file or scenario, a device,
# a file too large), by -n and by a reload, and the longest [fanotify] paths.
#
# usage: test_verdictctl.sh VERDICTD VERDICTCTL
# Prints TAP; exits non-zero when a test failed or the daemon did not come
# up.  VERDICTD_CONTROL_OPT names the daemon's socket option
# (default --control-socket).
set -u
. "$(dirname "$0")/tap.sh"

# What explains a failure: the last verdictctl's stderr.
tap_diagnose() {
	[ -s "$TMP/err" ] && sed 's/^/# stderr: /' "$TMP/err"
	return 0
}

VERDICTD=${1:?usage: test_verdictctl.sh VERDICTD VERDICTCTL}
VERDICTCTL=${2:?usage: test_verdictctl.sh VERDICTD VERDICTCTL}
CONTROL_OPT=${VERDICTD_CONTROL_OPT:---control-socket}
PY=$(command -v python3 || true)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/verdictctl.XXXXXX") || exit 1
SOCK=$TMP/s
DPID=
D2PID=

# stop PID: SIGTERM, then SIGKILL after 5 s (a daemon stuck on an input
# must not hang the test); true when SIGTERM was enough.
stop() {
	kill -TERM "$1" 2>/dev/null
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 1
	fi
	wait "$1" 2>/dev/null
	return 0
}

cleanup() {
	[ -n "$DPID" ] && stop "$DPID"
	[ -n "$D2PID" ] && stop "$D2PID"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ctl ARGS...: runs verdictctl on the test socket; stdout in $TMP/out,
# stderr in $TMP/err, exit status in $rc.
ctl() {
	"$VERDICTCTL" -S "$SOCK" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
}

# refused DESCRIPTION STATUS TEXT COMMAND...: COMMAND exits STATUS within
# 10 s (under timeout(1): a reader that blocks fails the test rather than
# hanging it), with TEXT in its stderr ($TMP/err) unless TEXT is empty.
refused() {
	_d=$1
	_s=$2
	_t=$3
	shift 3
	timeout -s KILL 10 "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ $rc -eq "$_s" ] &&
	    { [ -z "$_t" ] || grep -qF -- "$_t" "$TMP/err"; }; then
		ok "$_d"
	else
		echo "# exit status $rc (137: timed out), expected $_s and \"$_t\""
		not_ok "$_d"
	fi
}

# unblock FIFO: opens FIFO for writing, for a daemon that a regression left
# blocked in open(2) on it, so that the tests after go on; gives up after a
# second when nothing reads.
unblock() {
	timeout -s KILL 1 sh -c ': >"$1"' sh "$1" 2>/dev/null
}

# expect STATUS DESCRIPTION: the last ctl's exit status was STATUS.
expect() {
	if [ "$rc" -eq "$1" ]; then
		ok "$2"
	else
		echo "# exit status $rc, expected $1"
		not_ok "$2"
	fi
}

# wait_socket PID SOCKET STDERR: waits up to 10 s for the daemon's socket;
# bails out, with the daemon's stderr, when it does not come.
wait_socket() {
	_i=0
	while [ ! -S "$2" ] && [ $_i -lt 100 ]; do
		if ! kill -0 "$1" 2>/dev/null; then
			break
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
	if [ ! -S "$2" ]; then
		echo "Bail out! verdictd did not create $2"
		sed 's/^/# verdictd: /' "$3"
		exit 1
	fi
}

# An empty configuration is valid; the reload tests rewrite it.
: >"$TMP/verdictd.conf"
# Long enough to outlast the tests; the trap stops it.
"$VERDICTD" --backend gen -d 60 -c "$TMP/verdictd.conf" \
    "$CONTROL_OPT" "$SOCK" >"$TMP/daemon.out" 2>"$TMP/daemon.err" &
DPID=$!
wait_socket "$DPID" "$SOCK" "$TMP/daemon.err"

# -a: every line "name: integer", and the pipeline's counters are there.
ctl -a
if [ $rc -eq 0 ] && [ -s "$TMP/out" ] &&
    ! grep -Ev '^[a-z0-9_.]+: -?[0-9]+$' "$TMP/out" >/dev/null &&
    grep -q '^auth\.open\.received: ' "$TMP/out" &&
    grep -q '^deadline\.margin_us\.min: ' "$TMP/out"; then
	ok "-a prints name: value lines"
else
	not_ok "-a prints name: value lines"
fi
all=$(wc -l <"$TMP/out")
if [ -s "$TMP/err" ]; then
	not_ok "-a writes nothing on stderr"
else
	ok "-a writes nothing on stderr"
fi

# A prefix selects its subtree and nothing else.
ctl auth.open
if [ $rc -eq 0 ] && [ -s "$TMP/out" ] &&
    ! grep -v '^auth\.open\.' "$TMP/out" >/dev/null; then
	ok "a prefix selects its subtree"
else
	not_ok "a prefix selects its subtree"
fi

# Several names, -n: values only.
ctl -n auth.open.received timer.armed
if [ $rc -eq 0 ] && [ "$(wc -l <"$TMP/out")" -eq 2 ] &&
    ! grep -Ev '^-?[0-9]+$' "$TMP/out" >/dev/null; then
	ok "-n prints values only"
else
	not_ok "-n prints values only"
fi

# -j and -jv: JSON that parses, one member per counter.
if [ -n "$PY" ]; then
	ctl -j -a
	if [ $rc -eq 0 ] && "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, dict) and len(d) == int(sys.argv[2]), len(d)
assert all(isinstance(v, int) for v in d.values())
' "$TMP/out" "$all" 2>>"$TMP/err"; then
		ok "-j prints one JSON object"
	else
		not_ok "-j prints one JSON object"
	fi
	ctl -jv timer
	if [ $rc -eq 0 ] && "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
for k, v in d.items():
    assert k.startswith("timer."), k
    assert set(v) == {"value", "kind", "unit", "help"}, v
    assert v["kind"] in ("counter", "gauge")
' "$TMP/out" 2>>"$TMP/err"; then
		ok "-jv gives kind, unit and help"
	else
		not_ok "-jv gives kind, unit and help"
	fi
else
	skip "-j prints one JSON object" "no python3"
	skip "-jv gives kind, unit and help" "no python3"
fi

# --prometheus: a HELP and a TYPE line per sample, names Prometheus takes.
ctl -a --prometheus
if [ $rc -eq 0 ] && awk -v all="$all" '
/^# HELP verdictd_[a-z0-9_]+ / { help++; next }
/^# TYPE verdictd_[a-z0-9_]+ (counter|gauge)$/ { type++; next }
/^verdictd_[a-z0-9_]+ -?[0-9]+(\.[0-9]+)?$/ { sample++; next }
{ bad++ }
END { exit !(bad == 0 && help == type && type == sample && sample == all) }
' "$TMP/out" && grep -q '^# TYPE verdictd_auth_open_received_total counter$' \
    "$TMP/out"; then
	ok "--prometheus prints the text exposition format"
else
	not_ok "--prometheus prints the text exposition format"
fi

# status, as text and as JSON.
ctl status
if [ $rc -eq 0 ] && grep -q '^backend: gen$' "$TMP/out" &&
    grep -q "^pid: $DPID\$" "$TMP/out"; then
	ok "status prints key: value lines"
else
	not_ok "status prints key: value lines"
fi
if [ -n "$PY" ]; then
	ctl -j status
	if [ $rc -eq 0 ] && "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["pid"] == int(sys.argv[2]) and d["backend"] == "gen", d
' "$TMP/out" "$DPID" 2>>"$TMP/err"; then
		ok "status -j prints one JSON object"
	else
		not_ok "status -j prints one JSON object"
	fi
else
	skip "status -j prints one JSON object" "no python3"
fi

# reload: 0 with a valid file, 1 and the daemon's reason with a broken one.
ctl reload
expect 0 "reload of a valid configuration"
echo "this is not a setting" >"$TMP/verdictd.conf"
ctl reload
if [ $rc -eq 1 ] && [ -s "$TMP/err" ] && [ ! -s "$TMP/out" ]; then
	ok "reload of a broken configuration exits 1 with the reason"
else
	echo "# exit status $rc"
	not_ok "reload of a broken configuration exits 1 with the reason"
fi
# A FIFO: refused at once, and the daemon keeps answering (the reload
# used to block in open(2) holding the reload lock).
rm -f "$TMP/verdictd.conf"
mkfifo "$TMP/verdictd.conf"
refused "reload of a FIFO configuration fails at once" 1 \
    "verdictd.conf: not a regular file" "$VERDICTCTL" -S "$SOCK" reload
[ $rc -ne 1 ] && unblock "$TMP/verdictd.conf"
rm -f "$TMP/verdictd.conf"
: >"$TMP/verdictd.conf"
refused "reload after the FIFO works" 0 "" "$VERDICTCTL" -S "$SOCK" reload

# -w: at least two rounds, rates from the second, 0 after SIGINT.  The
# interrupt comes once the second round is out (waited for, at most 10 s),
# not after a time that a loaded machine may need for the first.
"$VERDICTCTL" -S "$SOCK" -w 0.2 auth.open.received >"$TMP/watch" \
    2>"$TMP/err" &
wpid=$!
i=0
while [ "$(cat "$TMP/watch" 2>/dev/null |
    grep -c '^auth\.open\.received:')" -lt 2 ] &&
    [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -INT $wpid 2>/dev/null
wait $wpid
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c '^auth\.open\.received:' "$TMP/watch")" -ge 2 ] &&
    grep -q '/s$' "$TMP/watch"; then
	ok "-w refreshes with rates and stops on SIGINT"
else
	echo "# exit status $rc"
	not_ok "-w refreshes with rates and stops on SIGINT"
fi

# The failures, each with its own exit status.
ctl no.such.counter
expect 1 "an unknown name exits 1"
ctl auth.open no.such.counter
expect 1 "an unknown name among known ones exits 1"
ctl 'Auth.Open'
expect 2 "a malformed name exits 2"
ctl auth..open
expect 2 "a name with two dots in a row exits 2"
ctl
expect 2 "no name and no -a exits 2"
ctl -j --prometheus -a
expect 2 "-j with --prometheus exits 2"
"$VERDICTCTL" -S "$TMP/none" -a >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 3 ] && grep -q 'verdictd is not running' "$TMP/err"; then
	ok "a missing socket exits 3 and says so"
else
	echo "# exit status $rc"
	not_ok "a missing socket exits 3 and says so"
fi

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	chmod 755 "$TMP"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$VERDICTCTL" -S "$SOCK" -a >"$TMP/out" 2>"$TMP/err"
	rc=$?
	expect 4 "another user than root exits 4"
else
	skip "another user than root exits 4" "needs root and setpriv"
fi

# The daemon is still healthy after all that.
ctl -n auth.open.received
expect 0 "the daemon still answers"

# --- inputs that are not regular files, or too large ---------------------

mkfifo "$TMP/fifo"
refused "-n refuses a FIFO configuration at once" 2 \
    "$TMP/fifo: not a regular file" "$VERDICTD" --backend gen -n -c "$TMP/fifo"
# Under an address space limit, as a reader without a bound would fail
# (and once took its ENOMEM for the end of the file: "configuration OK").
# AddressSanitizer reserves terabytes of address space for its shadow and
# cannot start under such a limit: there the refusal is checked without it.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	vlimit=unlimited
else
	vlimit=1048576
fi
refused "-n refuses /dev/zero as the configuration" 2 \
    "/dev/zero: not a regular file" sh -c 'ulimit -v "$0" && exec "$@"' \
    "$vlimit" "$VERDICTD" --backend gen -n -c /dev/zero
printf '[gen]\nrate = 5\n' >"$TMP/big.conf"
truncate -s 1048577 "$TMP/big.conf"
refused "-n refuses a configuration over 1 MiB" 2 \
    "$TMP/big.conf: larger than 1 MiB" \
    "$VERDICTD" --backend gen -n -c "$TMP/big.conf"
refused "--check-policy refuses a FIFO at once" 2 \
    "$TMP/fifo: not a regular file" \
    "$VERDICTD" --backend gen --check-policy "$TMP/fifo"
# The default backend (fanotify) needs paths to run, not to check rules.
printf 'deny open all : path=/etc/shadow\n' >"$TMP/plain.rules"
refused "--check-policy needs no backend settings" 0 \
    "policy $TMP/plain.rules OK: 1 rules" \
    "$VERDICTD" --check-policy "$TMP/plain.rules"
# --explain: the deciding rule's file:line and text, the ones passed and
# why; a malformed query is an error naming the word.
printf 'deny open uid=0 : all\ndeny,audit open all : prefix=/tmp/\n' \
    >"$TMP/ex.rules"
refused "--explain names the deciding rule" 0 "" \
    "$VERDICTD" --check-policy "$TMP/ex.rules" \
    --explain "open exe=/bin/cat uid=1000 path=/tmp/x"
if grep -qxF "by: rule 2, $TMP/ex.rules:2: deny,audit open all : prefix=/tmp/" \
    "$TMP/out" && grep -qxF "decision: deny (audit)" "$TMP/out" &&
    grep -qxF "  uid= does not hold: the uid is 1000" "$TMP/out"; then
	ok "--explain shows the decision, its rule and the rule passed"
else
	sed 's/^/# out: /' "$TMP/out"
	not_ok "--explain shows the decision, its rule and the rule passed"
fi
refused "--explain refuses a malformed query, naming the word" 2 \
    "--explain: unknown key in \"pth=/x\"" \
    "$VERDICTD" --check-policy "$TMP/ex.rules" --explain "open pth=/x"
refused "-n refuses a FIFO policy at once" 2 \
    "$TMP/fifo: not a regular file" \
    "$VERDICTD" --backend gen -n --policy "$TMP/fifo"
# A backend this verdictd was built without is no valid configuration.
refused "-n refuses the es backend on Linux, saying why" 2 \
    "the es backend exists on macOS only" "$VERDICTD" --backend es -n
timeout -s KILL 10 "$VERDICTD" --backend sim --scenario "$TMP/fifo" \
    "$CONTROL_OPT" off >"$TMP/out" 2>"$TMP/err"
rc=$?
if grep -q 'built without the sim backend' "$TMP/err"; then
	skip "--scenario refuses a FIFO at once" "no sim backend"
elif [ $rc -eq 2 ] && grep -qF "$TMP/fifo: not a regular file" "$TMP/err"
then
	ok "--scenario refuses a FIFO at once"
else
	echo "# exit status $rc (137: timed out), expected 2"
	not_ok "--scenario refuses a FIFO at once"
fi

# [fanotify] paths: 64 paths of 1023 bytes on one line; not 65.
paths=$(awk -v n=64 'BEGIN {
	for (i = 1; i <= n; i++)
		printf "%s/%01022d", (i > 1 ? ":" : ""), i
}')
printf '[fanotify]\npaths = %s\n' "$paths" >"$TMP/paths.conf"
refused "-n accepts 64 fanotify paths of 1023 bytes" 0 "configuration OK" \
    "$VERDICTD" --backend fanotify -n -c "$TMP/paths.conf"
printf '[fanotify]\npaths = %s:/65\n' "$paths" >"$TMP/paths.conf"
refused "-n refuses 65 fanotify paths with file:line" 2 \
    "$TMP/paths.conf:2: [fanotify] paths: more than 64 paths" \
    "$VERDICTD" --backend fanotify -n -c "$TMP/paths.conf"

# A daemon with a policy: its file, or a rules file of a directory it
# includes, turns into a FIFO.  Each reload fails at once and keeps the
# running policy, and SIGTERM still stops the daemon.
mkdir "$TMP/rules.d"
printf 'deny open all : path=/nonexistent\ninclude rules.d\n' >"$TMP/p.rules"
printf '[policy]\nfile = %s\n' "$TMP/p.rules" >"$TMP/p.conf"
"$VERDICTD" --backend gen -d 60 -c "$TMP/p.conf" "$CONTROL_OPT" "$TMP/s2" \
    >"$TMP/daemon2.out" 2>"$TMP/daemon2.err" &
D2PID=$!
wait_socket "$D2PID" "$TMP/s2" "$TMP/daemon2.err"
mkfifo "$TMP/rules.d/x.rules"
refused "reload of a policy including a FIFO fails at once" 1 \
    "x.rules\": not a regular file" "$VERDICTCTL" -S "$TMP/s2" reload
[ $rc -ne 1 ] && unblock "$TMP/rules.d/x.rules"
rm -f "$TMP/rules.d/x.rules"
mv "$TMP/p.rules" "$TMP/p.rules.ok"
mkfifo "$TMP/p.rules"
refused "reload of a FIFO policy fails at once" 1 \
    "p.rules: not a regular file" "$VERDICTCTL" -S "$TMP/s2" reload
[ $rc -ne 1 ] && unblock "$TMP/p.rules"
rm -f "$TMP/p.rules"
mv "$TMP/p.rules.ok" "$TMP/p.rules"
refused "the policy reloads once the FIFOs are gone" 0 "" \
    "$VERDICTCTL" -S "$TMP/s2" reload
check "SIGTERM stops the daemon" stop "$D2PID"
D2PID=

tap_done
