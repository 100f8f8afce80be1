# tap.sh — TAP output for the integration scripts, which source it:
#
#	. "$(dirname "$0")/tap.sh"
#
# Each script defines tap_diagnose, which prints what explains a failure
# (the daemon's stderr, say) as "# ..." lines; not_ok calls it.  The
# script ends with tap_done: the plan, and its exit status.
#
# Under ThreadSanitizer, tsan_log DIR (right after the script makes its
# temporary directory) and tsan_check (just before tap_done) turn a race
# into one failed test of its own instead of a cascade.

n=0
failed=0

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	tap_diagnose
	return 0
}

skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

# tee_stderr: copies its input to stdout and to stderr (what a CI log
# keeps of a failed test).
tee_stderr() {
	while IFS= read -r _line; do
		printf '%s\n' "$_line"
		printf '%s\n' "$_line" >&2
	done
}

# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check() {
	_d=$1
	shift
	if "$@"; then
		ok "$_d"
	else
		not_ok "$_d"
	fi
}

# alive PID: the process exists and is not a zombie.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	case $(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) in
	Z* | X* | '') return 1 ;;
	esac
	return 0
}

# wait_gone PID TENTHS: waits until PID is gone, at most TENTHS tenths of
# a second; false when it is still there.
wait_gone() {
	_i=0
	while alive "$1"; do
		[ "$_i" -ge "$2" ] && return 1
		sleep 0.1
		_i=$((_i + 1))
	done
	return 0
}

# tsan_log DIR: from now on every process started (the daemon, its
# control client, the openers) writes its ThreadSanitizer reports to
# DIR/tsan.PID and goes on (halt_on_error=0): one report no longer kills
# the daemon in the middle of the script and fails the tests after it.  The
# exit status TSan gives a process that reported (exitcode) is kept.
# Options given before (suppressions=...) stay; these come last and win.
tsan_log() {
	TSAN_LOG=$1/tsan
	TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}halt_on_error=0:log_path=$TSAN_LOG"
	export TSAN_OPTIONS
}

# tsan_check BINARY: the TAP check that no report was written since
# tsan_log, each report printed as diagnostics when one was; skipped when
# BINARY was not built with ThreadSanitizer.
tsan_check() {
	_d="no ThreadSanitizer report from any process of this script"
	if ! grep -q __tsan_init "$1" 2>/dev/null; then
		skip "$_d" "not a ThreadSanitizer build"
		return 0
	fi
	set -- "$TSAN_LOG".*
	if [ ! -e "$1" ]; then
		ok "$_d"
		return 0
	fi
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $_d"
	for _f; do
		echo "# --- $(basename "$_f")"
		sed 's/^/# /' "$_f"
	done
	return 0
}

# tap_done: the plan; false when a test failed.
tap_done() {
	echo "1..$n"
	[ "$failed" -eq 0 ]
}
