#!/bin/sh
# test_sim_digest.sh — sha256= rules on the EndpointSecurity simulator with
# a slow disk (bench/scenarios/digest.scn, tests/data/digest.rules): no
# deadline is missed; events whose digest is not ready in time get the
# default and are counted as enrich.late; the others are decided by their
# digest.
#
# usage: test_sim_digest.sh VERDICTD SCENARIO POLICY
VERDICTD=$1
SCN=$2
POLICY=$3
. "$(dirname "$0")/tap.sh"

TMP=$(mktemp -d /tmp/sim_digest.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
tap_diagnose() {
	sed 's/^/# verdictd: /' "$TMP/err" | tail -5
}

timeout -s KILL 120 "$VERDICTD" -b sim --scenario "$SCN" --policy "$POLICY" \
    -s sim.duration=10 --json >"$TMP/out.json" 2>"$TMP/err"
rc=$?
field() { # PYTHON-EXPRESSION on the report j
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" \
	    "$TMP/out.json" 2>/dev/null
}
if [ $rc -eq 0 ] && [ "$(field 'j["kernel"]["auth_client"]["missed"]')" = 0 ] &&
    [ "$(field 'j["kernel"]["auth_client"]["terminated"]')" = False ] &&
    [ "$(field 'j["kernel"]["auth_client"]["missed_message"]')" = None ]; then
	ok "no deadline missed, the client not terminated"
else
	echo "# exit status $rc"
	head -c 2000 "$TMP/out.json" | sed 's/^/# report: /'
	not_ok "no deadline missed, the client not terminated"
fi
check "digests not ready by the deadline got the default, counted late" \
    test "$(field 'j["enrich"]["late"] > 0')" = True
check "digests ready in time decided their events" \
    test "$(field 'j["enrich"]["answered"] > 0 and j["types"]["auth.exec"]["denied"] > 0')" = True
check "no enrichment failed, none undecided" \
    test "$(field 'j["enrich"]["failed"] + j["enrich"]["undecided"]')" = 0
tap_done
