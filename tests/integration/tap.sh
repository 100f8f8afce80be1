# tap.sh — TAP output for the integration scripts, which source it:
#
#	. "$(dirname "$0")/tap.sh"
#
# Each script defines tap_diagnose, which prints what explains a failure
# (the daemon's stderr, say) as "# ..." lines; not_ok calls it.  The
# script ends with tap_done: the plan, and its exit status.

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

# tap_done: the plan; false when a test failed.
tap_done() {
	echo "1..$n"
	[ "$failed" -eq 0 ]
}
