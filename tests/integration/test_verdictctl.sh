#!/bin/sh
# test_verdictctl.sh — verdictctl against a running verdictd (gen backend):
# every output format, the commands, and the exit status of each failure
# the operator meets (unknown name, malformed name, no daemon, not root).
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

cleanup() {
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
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

# expect STATUS DESCRIPTION: the last ctl's exit status was STATUS.
expect() {
	if [ "$rc" -eq "$1" ]; then
		ok "$2"
	else
		echo "# exit status $rc, expected $1"
		not_ok "$2"
	fi
}

# An empty configuration is valid; the reload tests rewrite it.
: >"$TMP/verdictd.conf"
# Long enough to outlast the tests; the trap stops it.
"$VERDICTD" --backend gen -d 60 -c "$TMP/verdictd.conf" \
    "$CONTROL_OPT" "$SOCK" >"$TMP/daemon.out" 2>"$TMP/daemon.err" &
DPID=$!
i=0
while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do
	if ! kill -0 "$DPID" 2>/dev/null; then
		break
	fi
	sleep 0.1
	i=$((i + 1))
done
if [ ! -S "$SOCK" ]; then
	echo "Bail out! verdictd did not create $SOCK"
	sed 's/^/# verdictd: /' "$TMP/daemon.err"
	exit 1
fi

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
: >"$TMP/verdictd.conf"

# -w: at least two rounds, rates from the second, 0 after SIGINT.
"$VERDICTCTL" -S "$SOCK" -w 0.2 auth.open.received >"$TMP/watch" \
    2>"$TMP/err" &
wpid=$!
sleep 1
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

tap_done
