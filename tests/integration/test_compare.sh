#!/bin/sh
# test_compare.sh — verdict-bench --compare, the regression gate: a run
# compared with itself passes; a deliberately slowed run (--eval-delay-us,
# the test hook) fails, naming the figure; a miss fails whatever the
# thresholds; files that cannot be compared are errors, not passes.
#
# usage: test_compare.sh VERDICT_BENCH
BENCH=$1
. "$(dirname "$0")/tap.sh"

TMP=$(mktemp -d /tmp/compare.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
tap_diagnose() {
	sed 's/^/# out: /' "$TMP/out" | tail -8
	sed 's/^/# err: /' "$TMP/err" | tail -4
}

cmp_() { # OLD NEW [ARGS...]: $rc, $TMP/out, $TMP/err
	timeout -s KILL 60 "$BENCH" --compare "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
}

timeout -s KILL 120 "$BENCH" --only latency -q -d 0.3 --json "$TMP/old.json" \
    >"$TMP/out" 2>"$TMP/err"
rc=$?
check "--json writes the runs' JSON lines to the file, nothing to stdout" \
    test $rc -eq 0 -a "$(wc -l <"$TMP/old.json")" -ge 2 -a ! -s "$TMP/out"

cmp_ "$TMP/old.json" "$TMP/old.json"
check "a run compared with itself passes" \
    test $rc -eq 0 -a -n "$(grep 'none regressed' "$TMP/out")"

# Each evaluation 100 us longer: at 100 000 events/s the workers fall far
# behind, so every percentile grows by orders of magnitude, far past any
# noise of this machine (margin: a factor of 10 at least over 10 %).
timeout -s KILL 120 "$BENCH" --only latency -q -d 0.3 --eval-delay-us 100 \
    --json "$TMP/slow.json" >/dev/null 2>&1
cmp_ "$TMP/old.json" "$TMP/slow.json"
if [ $rc -eq 1 ] && grep -q '^latency .* p99_us .*REGRESSED$' "$TMP/out" &&
    grep -q 'regressed; the first: latency #1 ' "$TMP/out"; then
	ok "a slowed build fails, naming the figures that regressed"
else
	echo "# exit status $rc"
	not_ok "a slowed build fails, naming the figures that regressed"
fi

# A miss fails however loose the thresholds.
printf '{"bench":"deadlines","scenario":"s","hog":false,"misses":0,"terminations":0,"ok":true}\n' \
    >"$TMP/a.json"
printf '{"bench":"deadlines","scenario":"s","hog":false,"misses":2,"terminations":0,"ok":true}\n' \
    >"$TMP/b.json"
cmp_ "$TMP/a.json" "$TMP/b.json" --threshold-latency 10000 \
    --threshold-throughput 100 --threshold-cpu 10000
check "a deadline miss always fails" \
    test $rc -eq 1 -a -n "$(grep 'misses .*FAILED' "$TMP/out")"

# Not comparable: another configuration, a line too few, not JSON.
sed 's/"workers":[0-9]*/"workers":7/' "$TMP/old.json" >"$TMP/other.json"
cmp_ "$TMP/old.json" "$TMP/other.json"
check "runs with other settings are not compared (exit 3)" \
    test $rc -eq 3 -a -n "$(grep 'another workers' "$TMP/err")"
head -n 1 "$TMP/old.json" >"$TMP/short.json"
cmp_ "$TMP/short.json" "$TMP/old.json"
check "a line OLD lacks is an error (exit 3)" \
    test $rc -eq 3 -a -n "$(grep 'has no latency line #2' "$TMP/err")"
printf 'not json\n' >"$TMP/bad.json"
cmp_ "$TMP/old.json" "$TMP/bad.json"
check "a file that is not verdict-bench's JSON names its line (exit 3)" \
    test $rc -eq 3 -a -n "$(grep 'bad.json:1: not a verdict-bench JSON line' "$TMP/err")"
cmp_ "$TMP/old.json"
check "--compare needs OLD and NEW (exit 2)" test $rc -eq 2

# --plot: one line per run, PNGs with their data and script beside.
timeout -s KILL 60 "$BENCH" --plot "$TMP/plots" "$TMP/old.json" \
    "$TMP/slow.json" >"$TMP/out" 2>"$TMP/err"
rc=$?
png() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '211PNG' ]; }
pngs() { for _f; do png "$_f" || return 1; done; }
if [ $rc -eq 0 ] && png "$TMP/plots/latency.png" &&
    [ "$(grep -c "title 'old: latency " "$TMP/plots/plot.gp")" -ge 2 ] &&
    [ "$(grep -c "title 'slow: latency " "$TMP/plots/plot.gp")" -ge 2 ] &&
    grep -q "set ylabel 'latency (microseconds, log scale)'" \
        "$TMP/plots/plot.gp"; then
	ok "--plot draws the latency of every run, one line each"
else
	echo "# exit status $rc"
	not_ok "--plot draws the latency of every run, one line each"
fi
# scenarios: verdictd, the floor and the seed design on one scenario, each
# in a child, judged by the simulated kernel alike (simulator builds only).
# JSON checked with python3, which the test command installs anyway.
jcheck() { # FILE PYTHON-EXPR-OVER-lines
	python3 -c 'import json,sys
lines=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}
if "$BENCH" --help | grep -q ' scenarios'; then
	timeout -s KILL 120 "$BENCH" --only scenarios -s steady -d 0.5 \
	    --json "$TMP/scn.json" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	check "scenarios runs verdictd, the floor and the seed on one load" \
	    test $rc -eq 0 -a "$(wc -l <"$TMP/scn.json")" -eq 3
	check "every system's line has its latency, callback, CPU and RSS" \
	    jcheck "$TMP/scn.json" '[l["system"] for l in lines] == ["verdictd", "floor", "seed"] and all(l["p99_us"] > 0 and l["callback_p50_ns"] > 0 and l["cpu_ns_per_event"] > 0 and l["peak_rss_kib"] > 0 and l["posted_auth"] == lines[0]["posted_auth"] for l in lines)'
	check "verdictd's line has its ratios to the floor and no miss" \
	    jcheck "$TMP/scn.json" 'lines[0]["p99_vs_floor"] > 0 and lines[0]["misses"] == 0 and lines[0]["answered"] == lines[0]["auth_delivered"] and len(lines[0]["series_max_us"]) == 200'
	cmp_ "$TMP/scn.json" "$TMP/scn.json"
	check "a scenarios run compared with itself passes, judged on ratios" \
	    test $rc -eq 0 -a -n "$(grep '^scenarios .* p99_vs_floor ' "$TMP/out")" \
	    -a -z "$(grep '^scenarios .* p99_us ' "$TMP/out")"
	timeout -s KILL 60 "$BENCH" --plot "$TMP/plots3" "$TMP/scn.json" \
	    >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ $rc -eq 0 ] && png "$TMP/plots3/scenario-steady-latency.png" &&
	    png "$TMP/plots3/scenario-steady-time.png" &&
	    grep -q "title 'seed'" "$TMP/plots3/plot.gp" &&
	    grep -q "deadline (shortest ordinary" "$TMP/plots3/plot.gp"; then
		ok "--plot draws each scenario's percentiles and latency over time"
	else
		echo "# exit status $rc"
		not_ok "--plot draws each scenario's percentiles and latency over time"
	fi
else
	skip "scenarios" "built without the simulator"
fi

# fanotify: open storms under the minimal listener and verdictd (root).
if [ "$(id -u)" -eq 0 ]; then
	timeout -s KILL 120 "$BENCH" --only fanotify -q -d 0.05 \
	    --json "$TMP/fan.json" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if grep -q 'skipped' "$TMP/err"; then
		skip "fanotify" "$(tr '\n' ' ' <"$TMP/err")"
	else
		check "fanotify measures open and exec storms of each listener at K = 1, 2, 4 and 8" \
		    jcheck "$TMP/fan.json" 'sorted((l["op"], l["system"], l["k"]) for l in lines if l["system"] in ("minimal", "verdictd")) == sorted((o, s, k) for o in ("open", "exec") for s in ("minimal", "verdictd") for k in (1, 2, 4, 8)) and all(l["events_per_s"] > 0 for l in lines)'
		timeout -s KILL 60 "$BENCH" --plot "$TMP/plots4" "$TMP/fan.json" \
		    >"$TMP/out" 2>"$TMP/err"
		check "--plot draws throughput per K, one line per listener" \
		    pngs "$TMP/plots4/fanotify.png" "$TMP/plots4/fanotify-exec.png"
	fi
else
	skip "fanotify" "needs root"
fi

timeout -s KILL 60 "$BENCH" --plot "$TMP/plots2" "$TMP/bad.json" \
    >"$TMP/out" 2>"$TMP/err"
rc=$?
check "--plot of a file that is not verdict-bench's JSON is an error" \
    test $rc -eq 3
tap_done
