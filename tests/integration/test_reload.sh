#!/bin/sh
# test_reload.sh — the reload storm: four clients run `verdictctl reload`
# back to back and a fifth loop sends SIGHUP every 10 ms, for
# VD_RELOAD_SECONDS (default 30), while openers keep opening allowed files
# and a denied one and a monitor reads the counters.  Every reload swaps in
# a real policy: the configuration alternates between two rules files that
# give the same answers by different rules.  Afterwards: the daemon is
# alive and answering, every open got its expected answer from a worker and
# is in the daemon's books, every request got its reply, no reload failed,
# SIGTERM stops it with status 0, and no sanitizer (ASan, UBSan, LSan,
# TSan) said anything.
#
# usage: test_reload.sh VERDICTD VERDICTCTL FANOPEN
# Prints TAP; exits non-zero when a test failed.  Needs root, a kernel
# with fanotify permission events and perl, else skips.
#
# Under ThreadSanitizer the daemon's reports go to $TMP/tsan.PID
# (log_path, with halt_on_error=0 so that one report does not end the
# storm, and exitcode=0 so that the exit status is the daemon's own); the
# test reads them.  ASan, UBSan and LSan report on stderr.
#
# As in test_fanotify.sh: the daemon marks only this script's private
# directory, the daemon and every client and opener run under timeout(1),
# and the trap stops them all, whatever happened.
set -u
. "$(dirname "$0")/tap.sh"

# Lines of the daemon's stderr that explain nothing: one per reload.
QUIET='reload: configuration OK'

# What explains a failure: what the daemon said since the last failure
# (its stderr without the reload lines), and sanitizer logs not yet shown.
DIAG_AT=0
DIAG_SHOWN=
tap_diagnose() {
	if [ -n "${DERR:-}" ] && [ -s "$DERR" ]; then
		_l=$(wc -l <"$DERR")
		tail -n +$((DIAG_AT + 1)) "$DERR" | head -n $((_l - DIAG_AT)) |
		    grep -v "$QUIET" | head -n 200 | sed 's/^/# verdictd: /'
		DIAG_AT=$_l
	fi
	for _f in "$TMP"/tsan.*; do
		[ -s "$_f" ] || continue
		case " $DIAG_SHOWN " in *" $_f "*) continue ;; esac
		DIAG_SHOWN="$DIAG_SHOWN $_f"
		head -n 100 "$_f" | sed "s|^|# $(basename "$_f"): |"
	done
	return 0
}

VERDICTD=${1:?usage: test_reload.sh VERDICTD VERDICTCTL FANOPEN}
VERDICTCTL=${2:?usage: test_reload.sh VERDICTD VERDICTCTL FANOPEN}
FANOPEN=${3:?usage: test_reload.sh VERDICTD VERDICTCTL FANOPEN}
SECS=${VD_RELOAD_SECONDS:-30}
case $SECS in
'' | *[!0-9]*)
	echo "Bail out! VD_RELOAD_SECONDS=$SECS: not a number of seconds"
	exit 1
	;;
esac
[ "$SECS" -ge 1 ] || SECS=1

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP fanotify permission events need root"
	exit 0
fi
if [ ! -d /proc/sys/fs/fanotify ]; then
	echo "1..0 # SKIP the kernel has no fanotify"
	exit 0
fi
PERL=$(command -v perl || true)
if [ -z "$PERL" ]; then
	echo "1..0 # SKIP perl is needed for the SIGHUP loop"
	exit 0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vd-reload.XXXXXX") || exit 1
# The watched directory; the configuration, rules, socket and logs stay
# outside it, so the daemon's own reads are not events.
W=$TMP/w
SOCK=$TMP/ctl.sock
DERR=$TMP/daemon.err
CONF=$TMP/verdictd.conf
# Its existence ends the loops.
STOP=$TMP/stop
TPID=
DPID=
# The background loops (subshells of this shell, in its process group):
# each ends at $STOP; the trap kills what is left.  Each child they start
# runs under timeout(1), so none outlives its bound.
LOOPS=

cleanup() {
	trap '' INT TERM
	: >"$STOP" 2>/dev/null
	for p in $LOOPS; do
		kill -TERM "$p" 2>/dev/null
	done
	if [ -n "$TPID" ] && alive "$TPID"; then
		kill -TERM "-$TPID" 2>/dev/null
		if ! wait_gone "$TPID" 50; then
			kill -KILL "-$TPID" 2>/dev/null
			wait_gone "$TPID" 20
		fi
	fi
	for p in $LOOPS $TPID; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# ctr NAME...: the values of the daemon's counters, one a line.
ctr() {
	timeout -s KILL 20 "$VERDICTCTL" -S "$SOCK" -t 10 -n "$@" \
	    2>>"$TMP/ctr.err"
}

# use_policy N: points the configuration at rules file N (1 or 2), in one
# rename, so that a reload never reads half a file.
use_policy() {
	printf '[policy]\nfile = %s\n' "$TMP/p$1.rules" >"$CONF.new" &&
	    mv -f "$CONF.new" "$CONF"
}

# --- the files, the two policies --------------------------------------------
mkdir "$W" || exit 1
ALLOWED=
for i in 1 2 3 4 5 6 7 8; do
	echo "$i" >"$W/f$i"
	ALLOWED="$ALLOWED $W/f$i"
done
echo secret >"$W/secret"
cat >"$TMP/p1.rules" <<EOF
deny open all : path=$W/secret
allow open all : prefix=$W/
EOF
cat >"$TMP/p2.rules" <<EOF
# The same answers as p1.rules, by other rules.
%denied = $W/secret, $W/never
default open allow
deny open all : path=%denied
allow open all : prefix=$W/f
EOF
use_policy 1

# --- the daemon -------------------------------------------------------------
# No ignore marks: every open is a permission event, so the daemon's books
# can be held against the openers' counts.  A budget of 10 s: an open the
# timer answers (with the default, which is wrong for one of the files)
# means an evaluation stalled for 9 s, not a slow sanitizer build.
# TSan's reports go to files, the run goes on after one, and the exit
# status stays the daemon's own.
TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}halt_on_error=0:exitcode=0:log_path=$TMP/tsan" \
    timeout -s KILL $((SECS + 300)) "$VERDICTD" -c "$CONF" -w 2 \
    --watch "$W" --control-socket "$SOCK" -s fanotify.ignore_max=0 \
    -s auth.open.budget_ms=10000 >"$TMP/daemon.out" 2>"$DERR" &
TPID=$!
_i=0
while [ $_i -lt 400 ]; do
	if [ -S "$SOCK" ] && grep -q 'answering fanotify events' "$DERR"; then
		DPID=$(pgrep -P "$TPID" | head -n 1)
		[ -n "$DPID" ] && break
	fi
	alive "$TPID" || break
	sleep 0.05
	_i=$((_i + 1))
done
if [ -z "$DPID" ]; then
	if grep -q 'fanotify_init' "$DERR"; then
		echo "1..0 # SKIP $(head -n 1 "$DERR")"
		exit 0
	fi
	echo "Bail out! verdictd did not start"
	sed 's/^/# verdictd: /' "$DERR"
	exit 1
fi

# --- the loops --------------------------------------------------------------
# opener_loop NAME FILE...: fanopen batches over FILE... until $STOP; one
# "ok=N eperm=N other=N" line per batch in $TMP/NAME.res.
opener_loop() {
	_name=$1
	shift
	while [ ! -e "$STOP" ]; do
		timeout -s KILL 120 "$FANOPEN" -k 2 -n 200 "$@" \
		    >>"$TMP/$_name.res" 2>>"$TMP/$_name.err"
		_rc=$?
		# Killed by timeout, say: the batch's opens are unaccounted.
		[ $_rc -le 1 ] || echo "exit=$_rc" >>"$TMP/$_name.res"
	done
}

# reload_loop N: verdictctl reload back to back until $STOP; the count of
# replies that said OK, and each other exit status, in $TMP/ctl.N.
reload_loop() {
	_ok=0
	while [ ! -e "$STOP" ]; do
		timeout -s KILL 30 "$VERDICTCTL" -S "$SOCK" -t 20 reload \
		    >/dev/null 2>>"$TMP/ctl.$1.err"
		_rc=$?
		if [ $_rc -eq 0 ]; then
			_ok=$((_ok + 1))
		else
			echo "$_rc" >>"$TMP/ctl.$1.bad"
		fi
	done
	echo "$_ok" >"$TMP/ctl.$1"
}

# get_loop: the counters, all of them, every 10 ms or so until $STOP, as
# a monitor reads them (the policy's among them) while reloads swap the
# policy; the count of reads that failed in $TMP/get.bad.
get_loop() {
	_bad=0
	while [ ! -e "$STOP" ]; do
		timeout -s KILL 30 "$VERDICTCTL" -S "$SOCK" -t 20 -a \
		    >/dev/null 2>>"$TMP/ctl.get.err" || _bad=$((_bad + 1))
		sleep 0.01
	done
	echo "$_bad" >"$TMP/get.bad"
}

# hup_loop: every 10 ms, the other policy and a SIGHUP, until $STOP; the
# count of signals sent in $TMP/hup.  In perl (perl-base is essential on
# Debian): a shell would fork sleep and mv each round, 30 ms of it on a
# busy machine.  The rounds keep to a 10 ms schedule with Time::HiRes
# (a late round is not made up for), else each sleeps 10 ms.
hup_loop() {
	timeout -s KILL $((SECS + 60)) "$PERL" -e '
		my ($pid, $conf, $p1, $p2, $stop) = @ARGV;
		my $now = eval { require Time::HiRes; \&Time::HiRes::time };
		my ($n, $next) = (0, $now ? $now->() : 0);
		until (-e $stop) {
			open(my $f, ">", "$conf.new") or die "$conf.new: $!\n";
			printf $f "[policy]\nfile = %s\n", $n % 2 ? $p1 : $p2;
			close($f) or die "$conf.new: $!\n";
			rename("$conf.new", $conf) or die "$conf: $!\n";
			kill("HUP", $pid) or last;
			$n++;
			my $wait = 0.01;
			if ($now) {
				my $t = $now->();
				$next += 0.01;
				$next = $t if $next < $t;
				$wait = $next - $t;
			}
			select(undef, undef, undef, $wait) if $wait > 0;
		}
		print "$n\n";
	' "$DPID" "$CONF" "$TMP/p1.rules" "$TMP/p2.rules" "$STOP" \
	    >"$TMP/hup" 2>"$TMP/hup.err"
}

set -- $(ctr config.reloads config.reload_failures policy.reloads \
    policy.reload_failures auth.open.received backend.fanotify.perm_events \
    auth.open.allowed auth.open.denied)
if [ $# -ne 8 ]; then
	echo "Bail out! verdictctl cannot read the counters"
	sed 's/^/# verdictctl: /' "$TMP/ctr.err"
	exit 1
fi
r0=$1 f0=$2 pr0=$3 pf0=$4 rcv0=$5 pe0=$6 alw0=$7 den0=$8

opener_loop allowed $ALLOWED &
LOOPS="$LOOPS $!"
opener_loop denied "$W/secret" &
LOOPS="$LOOPS $!"
t0=$(now_ms)
for c in 1 2 3 4; do
	: >"$TMP/ctl.$c.bad"
	reload_loop $c &
	LOOPS="$LOOPS $!"
done
hup_loop &
LOOPS="$LOOPS $!"
get_loop &
LOOPS="$LOOPS $!"
echo "# storm: $SECS s, 4 reload clients, SIGHUP every 10 ms, 2 openers," \
    "a counters reader"
sleep "$SECS"
: >"$STOP"
t1=$(now_ms)
for p in $LOOPS; do
	wait "$p"
done
LOOPS=
t2=$(now_ms)
echo "# storm over after $((t1 - t0)) ms; the loops ended $((t2 - t1)) ms later"

# --- the daemon lived through it --------------------------------------------
if alive "$DPID"; then
	ok "verdictd is alive after the storm"
else
	wait "$TPID"
	echo "# verdictd is gone, exit status $?"
	TPID=
	not_ok "verdictd is alive after the storm"
fi
timeout -s KILL 60 "$FANOPEN" "$W/f1" >"$TMP/after.a" 2>&1
timeout -s KILL 60 "$FANOPEN" "$W/secret" >"$TMP/after.s" 2>&1
if [ "$(cat "$TMP/after.a")" = "ok=1 eperm=0 other=0" ] &&
    [ "$(cat "$TMP/after.s")" = "ok=0 eperm=1 other=0" ]; then
	ok "verdictd still allows and denies after the storm"
else
	echo "# allowed file: $(cat "$TMP/after.a"), denied file: $(cat "$TMP/after.s")"
	not_ok "verdictd still allows and denies after the storm"
fi
if timeout -s KILL 30 "$VERDICTCTL" -S "$SOCK" -t 20 reload \
    >"$TMP/after.reload" 2>&1; then
	ok "verdictctl reload still works after the storm"
else
	sed 's/^/# verdictctl: /' "$TMP/after.reload"
	not_ok "verdictctl reload still works after the storm"
fi

# --- every open got its answer -----------------------------------------------
# sum FILE: "ok eperm other batches" over the batches, lost batches
# counted in other as -1 (a flag: their opens are unknown).
sum() {
	awk '
	/^ok=/ {
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			s[kv[1]] += kv[2]
		}
		b++
		next
	}
	{ lost++ }
	END {
		printf "%d %d %d %d %d\n", s["ok"], s["eperm"], s["other"],
		    b, lost
	}' "$1"
}
touch "$TMP/allowed.res" "$TMP/denied.res"
set -- $(sum "$TMP/allowed.res")
a_ok=$1 a_eperm=$2 a_other=$3 a_batches=$4 a_lost=$5
set -- $(sum "$TMP/denied.res")
d_ok=$1 d_eperm=$2 d_other=$3 d_batches=$4 d_lost=$5
echo "# allowed files: $a_batches batches, ok=$a_ok eperm=$a_eperm" \
    "other=$a_other; denied file: $d_batches batches, ok=$d_ok" \
    "eperm=$d_eperm other=$d_other"
if [ "$a_batches" -ge 2 ] && [ "$a_lost" -eq 0 ] && [ "$a_eperm" -eq 0 ] &&
    [ "$a_other" -eq 0 ]; then
	ok "every open of an allowed file during the storm succeeded ($a_ok)"
else
	grep -v '^ok=' "$TMP/allowed.res" | sed 's/^/# fanopen: /'
	sed 's/^/# fanopen: /' "$TMP/allowed.err" | head -n 20
	not_ok "every open of an allowed file during the storm succeeded ($a_ok)"
fi
if [ "$d_batches" -ge 2 ] && [ "$d_lost" -eq 0 ] && [ "$d_ok" -eq 0 ] &&
    [ "$d_other" -eq 0 ]; then
	ok "every open of the denied file during the storm failed with EPERM ($d_eperm)"
else
	grep -v '^ok=' "$TMP/denied.res" | sed 's/^/# fanopen: /'
	sed 's/^/# fanopen: /' "$TMP/denied.err" | head -n 20
	not_ok "every open of the denied file during the storm failed with EPERM ($d_eperm)"
fi

# --- the daemon's books -------------------------------------------------------
# The two opens after the storm and the storm's: all permission events,
# each received and answered once.  The books of an answer may trail it a
# little: wait up to 2 s for them to balance.
opens=$((a_ok + a_eperm + a_other + d_ok + d_eperm + d_other + 2))
names="auth.open.received auth.open.answered.worker
    auth.open.answered.default auth.open.answered.arrival auth.open.dropped
    auth.open.allowed auth.open.denied backend.fanotify.perm_events
    backend.fanotify.write_errors backend.fanotify.write_failures"
_i=0
while :; do
	set -- $(ctr $names)
	case "$#:$*" in
	10:*[!0-9\ ]*) set -- -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 ;;
	10:*) ;;
	*) set -- -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 ;;
	esac
	rcv=$1 wk=$2 def=$3 arr=$4 drp=$5 alw=$6 den=$7 pe=$8 we=$9
	shift 9
	wf=$1
	[ $((rcv - rcv0)) -eq $opens ] &&
	    [ "$rcv" -eq $((wk + def + arr + drp)) ] &&
	    [ "$rcv" -eq $((alw + den)) ] && break
	[ $_i -ge 20 ] && break
	sleep 0.1
	_i=$((_i + 1))
done
BOOKS="# auth.open.received +$((rcv - rcv0)) for $opens opens; answered by\
 worker $wk, default $def, arrival $arr, dropped $drp of $rcv;\
 allowed +$((alw - alw0)), denied +$((den - den0));\
 perm_events +$((pe - pe0)); write_errors $we, write_failures $wf"
echo "$BOOKS"
if [ $((rcv - rcv0)) -eq $opens ] && [ $((pe - pe0)) -eq $opens ] &&
    [ "$rcv" -eq $((wk + def + arr + drp)) ] &&
    [ "$rcv" -eq $((alw + den)) ]; then
	ok "each open is one event, received and answered once ($opens)"
else
	not_ok "each open is one event, received and answered once ($opens)"
fi
if [ "$def" -eq 0 ] && [ "$arr" -eq 0 ] && [ "$drp" -eq 0 ] &&
    [ $((den - den0)) -eq $((d_eperm + 1)) ] &&
    [ $((alw - alw0)) -eq $((a_ok + 1)) ]; then
	ok "every open was answered by a worker with the policy's verdict"
else
	not_ok "every open was answered by a worker with the policy's verdict"
	# Where the answers went: the pool, the rings, the workers.  On
	# stderr too, which is what a CI log keeps of a failed test.
	{
		echo "$BOOKS"
		timeout -s KILL 20 "$VERDICTCTL" -S "$SOCK" -t 10 \
		    auth.open.dropped_pool ring.auth.open.depth_max worker \
		    timer pipeline 2>&1 | sed 's/^/# /'
	} | tee_stderr
fi
if [ "$we" = 0 ] && [ "$wf" = 0 ]; then
	ok "no answer refused by the kernel"
else
	not_ok "no answer refused by the kernel"
fi

# --- every reload request got a reply ----------------------------------------
req=0
ctl_ok=0
max_ok=0
bad=
for c in 1 2 3 4; do
	if [ -s "$TMP/ctl.$c" ]; then
		_n=$(cat "$TMP/ctl.$c")
	else
		_n=0
		bad="$bad client $c did not finish;"
	fi
	ctl_ok=$((ctl_ok + _n))
	[ "$_n" -gt $max_ok ] && max_ok=$_n
	if [ -s "$TMP/ctl.$c.bad" ]; then
		bad="$bad client $c: exit statuses $(sort -n "$TMP/ctl.$c.bad" |
		    uniq -c | awk '{ printf "%s%s x%s", s, $2, $1; s = ", " }');"
	fi
	req=$((req + _n + $(wc -l <"$TMP/ctl.$c.bad")))
done
hups=$(cat "$TMP/hup" 2>/dev/null)
case $hups in "" | *[!0-9]*) hups=0 ;; esac
echo "# $req verdictctl reloads ($ctl_ok OK) and $hups SIGHUPs in" \
    "$((t1 - t0)) ms"
gbad=$(cat "$TMP/get.bad" 2>/dev/null)
case $gbad in "" | *[!0-9]*) bad="$bad the counters reader did not finish;" ;;
0) ;;
*) bad="$bad $gbad counter reads failed;" ;;
esac
if [ -z "$bad" ] && [ "$ctl_ok" -ge 4 ]; then
	ok "every verdictctl request got its reply ($ctl_ok reloads)"
else
	echo "#$bad"
	for c in 1 2 3 4 get; do
		[ -s "$TMP/ctl.$c.err" ] || continue
		sort "$TMP/ctl.$c.err" | uniq -c | head -n 5 |
		    sed "s/^/# verdictctl $c: /"
	done
	not_ok "every verdictctl request got its reply ($ctl_ok reloads)"
fi
# At least half the nominal 100 a second: a busy machine delays some.
if [ -s "$TMP/hup" ] && [ "$hups" -ge $((SECS * 50)) ]; then
	ok "a SIGHUP every 10 ms or so ($hups in $((t1 - t0)) ms)"
else
	sed 's/^/# perl: /' "$TMP/hup.err"
	not_ok "a SIGHUP every 10 ms or so ($hups in $((t1 - t0)) ms)"
fi

# The counts.  None may fail: both policies are valid and each is put in
# place by a rename.  Each reload has a cause (a request or a signal;
# pending signals merge), and the replies of one client come from
# reloads one after another (each request is sent after the reply to the
# one before): at least as many reloads as the busiest client's replies,
# even if the daemon serves simultaneous requests with one reload.  The
# one after the storm counts too.
set -- $(ctr config.reloads config.reload_failures policy.reloads \
    policy.reload_failures)
[ $# -eq 4 ] || set -- -1 -1 -1 -1
r=$(($1 - r0)) f=$(($2 - f0)) pr=$(($3 - pr0)) pf=$(($4 - pf0))
echo "# config.reloads +$r, config.reload_failures +$f;" \
    "policy.reloads +$pr, policy.reload_failures +$pf"
if [ $f -eq 0 ] && [ $pf -eq 0 ] && ! grep -q 'reload: .*keeping' "$DERR"
then
	ok "no reload failed"
else
	grep 'reload: .*keeping' "$DERR" | sort | uniq -c | head -n 5 |
	    sed 's/^/# verdictd: /'
	not_ok "no reload failed"
fi
if [ $r -ge $((max_ok + 1)) ] && [ $r -le $((req + hups + 1)) ] &&
    [ $pr -eq $r ]; then
	ok "config.reloads within [$((max_ok + 1)), $((req + hups + 1))], each with a new policy ($r)"
else
	not_ok "config.reloads within [$((max_ok + 1)), $((req + hups + 1))], each with a new policy ($r)"
fi

# --- SIGTERM -----------------------------------------------------------------
drc=
if [ -n "$TPID" ] && alive "$DPID"; then
	kill -TERM "$DPID"
	if ! wait_gone "$TPID" 50; then
		echo "# verdictd did not stop on SIGTERM within 5 s"
		kill -KILL "-$TPID" 2>/dev/null
	fi
	wait "$TPID"
	drc=$?
	TPID=
fi
if [ "$drc" = 0 ] && grep -q 'stopped by SIGTERM' "$TMP/daemon.out"; then
	ok "SIGTERM stops verdictd within 5 s with status 0 and a report"
else
	case $drc in
	66) echo "# exit status 66: ThreadSanitizer's, it reported" ;;
	23) echo "# exit status 23: LeakSanitizer's, it reported" ;;
	*) echo "# exit status ${drc:-none}" ;;
	esac
	not_ok "SIGTERM stops verdictd within 5 s with status 0 and a report"
fi

# --- no sanitizer report -------------------------------------------------------
SAN='ERROR: (Address|Leak|Thread|Memory)Sanitizer|WARNING: ThreadSanitizer|runtime error: |^SUMMARY: [A-Za-z]+Sanitizer'
reports=
for f in "$DERR" "$TMP"/tsan.* "$TMP"/*.err; do
	[ -s "$f" ] || continue
	if grep -Eq "$SAN" "$f"; then
		reports="$reports $f"
	fi
done
if [ -z "$reports" ]; then
	ok "no sanitizer report"
else
	for f in $reports; do
		echo "# $(basename "$f"): $(grep -Ec "$SAN" "$f") report lines;" \
		    "$(grep -E '^SUMMARY:' "$f" | sort | uniq -c | head -n 10 |
		        tr '\n' ';')"
	done
	not_ok "no sanitizer report"
fi

tap_done
