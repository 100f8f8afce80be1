#!/bin/sh
# test_macos.sh — the macOS side, checked on Linux: tools/build-macos
# cross-builds verdictd against Apple's macOS 12.0 SDK (arm64 and x86_64,
# -Dwerror=true: es.c and darwin.c compile warning-free against Apple's
# headers), then this script checks what came out: universal binaries,
# what they link and import, their minimum macOS, the bundle's structure
# and property lists, the example files; and that the simulator's
# EndpointSecurity.h declares nothing Apple's does not, with the same
# values and prototypes.  Running on a Mac is not checked (nothing here
# can).
#
# usage: test_macos.sh SOURCE-ROOT OUTPUT-DIR VERDICTD
# The inputs are VD_MACOS_SDK, or ../shared/macos beside SOURCE-ROOT (see
# tools/build-macos -h); without them the checks are skipped, with the
# reason (one TAP line).  Prints TAP.
set -u
. "$(dirname "$0")/../integration/tap.sh"

ROOT=${1:?usage: test_macos.sh SOURCE-ROOT OUTPUT-DIR VERDICTD}
OUT=${2:?usage: test_macos.sh SOURCE-ROOT OUTPUT-DIR VERDICTD}
VERDICTD=${3:?usage: test_macos.sh SOURCE-ROOT OUTPUT-DIR VERDICTD}
INPUTS=${VD_MACOS_SDK:-$(cd "$ROOT/.." && pwd)/shared/macos}
NCHECKS=14

tap_diagnose() {
	[ -s "$TMP/err" ] && sed 's/^/# /' "$TMP/err" | tail -n 30
	return 0
}

for f in MacOSX12.0.sdk.tar.xz ck-0.7.1.tar.xz; do
	if [ ! -f "$INPUTS/$f" ]; then
		echo "1..1"
		skip "the $NCHECKS macOS build checks" \
		    "no $INPUTS/$f (set VD_MACOS_SDK to the macOS inputs)"
		exit 0
	fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/macos.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
LIPO=$(command -v llvm-lipo-14 || command -v llvm-lipo || echo llvm-lipo)
OTOOL=$(command -v llvm-otool-14 || command -v llvm-otool || echo llvm-otool)
NM=$(command -v llvm-nm-14 || command -v llvm-nm || echo llvm-nm)
SDK=$OUT/sdk
APP=$OUT/verdictd.app
PY=python3

# 1: the build itself.
t0=$(date +%s)
if VD_MACOS_SDK=$INPUTS "$ROOT/tools/build-macos" -o "$OUT" >"$TMP/err" 2>&1
then
	ok "tools/build-macos cross-builds verdictd, verdictctl and verdictd.app ($(($(date +%s) - t0)) s)"
else
	not_ok "tools/build-macos cross-builds verdictd, verdictctl and verdictd.app"
	echo "1..$n"
	exit 1
fi
: >"$TMP/err"

# 2: universal binaries, both architectures.
universal() {
	for f in verdictd verdictctl libverdict.dylib verdictd-host; do
		a=$("$LIPO" -archs "$OUT/bin/$f" 2>>"$TMP/err") || return 1
		case " $a " in *" arm64 "*) ;; *) echo "$f: $a" >"$TMP/err"; return 1 ;; esac
		case " $a " in *" x86_64 "*) ;; *) echo "$f: $a" >"$TMP/err"; return 1 ;; esac
	done
}
check "verdictd, verdictctl, libverdict.dylib and the host app are universal (arm64, x86_64)" universal

# 3: what verdictd links: the system's ES and BSM libraries, ck linked in.
links() {
	"$OTOOL" -L "$OUT/bin/verdictd" >"$TMP/err" 2>&1 || return 1
	grep '^[[:space:]]' "$TMP/err" | awk '{ print $1 }' | sort -u >"$TMP/libs"
	printf '%s\n' /usr/lib/libEndpointSecurity.dylib \
	    /usr/lib/libSystem.B.dylib /usr/lib/libbsm.0.dylib | cmp -s - "$TMP/libs"
}
check "verdictd links libEndpointSecurity, libbsm and libSystem only (ck static)" links

# 4: what it imports: the real ES API, the ulock calls (macOS 12 has no
# os_sync_wait_on_address), no Linux-only symbol.
imports() {
	"$NM" -u --arch=arm64 "$OUT/bin/verdictd" >"$TMP/nm" 2>"$TMP/err" ||
	    return 1
	for s in _es_new_client _es_subscribe _es_respond_flags_result \
	    _es_respond_auth_result _es_retain_message _es_release_message \
	    _es_mute_path _es_clear_cache _es_delete_client \
	    _audit_token_to_pid ___ulock_wait ___ulock_wake \
	    _clock_gettime_nsec_np _pthread_set_qos_class_self_np; do
		grep -qx "$s" "$TMP/nm" || { echo "not imported: $s" >"$TMP/err"; return 1; }
	done
	for s in _os_sync_wait_on_address _pthread_condattr_setclock \
	    _es_copy_message _sched_getaffinity; do
		if grep -qx "$s" "$TMP/nm"; then
			echo "imported: $s" >"$TMP/err"
			return 1
		fi
	done
}
check "verdictd imports the ES API and __ulock_wait/__ulock_wake, nothing newer than macOS 12" imports

# 5: built for macOS 12.0 and later, both slices.
minos() {
	for a in arm64 x86_64; do
		"$OTOOL" -arch "$a" -l "$OUT/bin/verdictd" >"$TMP/l" 2>"$TMP/err" || return 1
		grep -A4 LC_BUILD_VERSION "$TMP/l" | grep -Eq 'minos 12\.0$' ||
		    { grep -A4 LC_BUILD_VERSION "$TMP/l" >"$TMP/err"; return 1; }
	done
}
check "verdictd's minimum macOS is 12.0 (LC_BUILD_VERSION, both slices)" minos

# 6: the bundle's structure.
EXT=$(ls -d "$APP"/Contents/Library/SystemExtensions/*.systemextension 2>/dev/null)
EXT_ID=$(basename "$EXT" .systemextension)
structure() {
	for f in Contents/Info.plist Contents/PkgInfo Contents/MacOS/verdictd-host \
	    Contents/MacOS/verdictctl Contents/Resources/verdictd.conf \
	    Contents/Resources/verdict.rules; do
		[ -f "$APP/$f" ] || { echo "missing $f" >"$TMP/err"; return 1; }
	done
	if ! { [ -n "$EXT" ] && [ "$(echo "$EXT" | wc -l)" -eq 1 ] &&
	    [ -f "$EXT/Contents/Info.plist" ] &&
	    [ -x "$EXT/Contents/MacOS/$EXT_ID" ] &&
	    cmp -s "$EXT/Contents/MacOS/$EXT_ID" "$OUT/bin/verdictd" &&
	    cmp -s "$APP/Contents/MacOS/verdictd-host" "$OUT/bin/verdictd-host"; }
	then
		echo "extension: $EXT" >"$TMP/err"
		return 1
	fi
}
check "verdictd.app holds the host app, verdictctl, the examples and one system extension whose executable is verdictd" structure

# 7, 8: the property lists, read with Python's plistlib.
VERSION=$(sed -n 's/^#define VD_VERSION_STRING "\(.*\)"$/\1/p' \
    "$OUT/meson-arm64/include/verdict/version.h")
plist() { # plist FILE PYTHON-ASSERTIONS (p: the dict)
	"$PY" - "$1" "$2" >"$TMP/err" 2>&1 <<'EOF'
import plistlib, sys
with open(sys.argv[1], "rb") as f:
    p = plistlib.load(f)
for line in sys.argv[2].split(";"):
    if not eval(line.strip()):
        sys.exit("%s: failed: %s (%r)" % (sys.argv[1], line.strip(), p))
EOF
}
ext_plist() {
	plist "$EXT/Contents/Info.plist" "
	    p['CFBundlePackageType'] == 'SYSX';
	    p['CFBundleIdentifier'] == '$EXT_ID';
	    p['CFBundleExecutable'] == '$EXT_ID';
	    p['CFBundleVersion'] == '$VERSION';
	    p['CFBundleShortVersionString'] == '$VERSION';
	    p['NSEndpointSecurityEarlyBoot'] is True;
	    len(p['NSSystemExtensionUsageDescription']) > 20;
	    p['NSEndpointSecurityMachServiceName'].endswith('.$EXT_ID.xpc');
	    p['LSMinimumSystemVersion'] == '12.0'"
}
check "the extension's Info.plist: SYSX, its bundle id, version $VERSION from meson, early boot, usage description" ext_plist
app_plist() {
	plist "$APP/Contents/Info.plist" "
	    p['CFBundlePackageType'] == 'APPL';
	    p['CFBundleExecutable'] == 'verdictd-host';
	    p['VDExtensionIdentifier'] == '$EXT_ID';
	    '$EXT_ID'.startswith(p['CFBundleIdentifier'] + '.');
	    p['CFBundleVersion'] == '$VERSION'"
}
check "the app's Info.plist names the extension, which its bundle id prefixes" app_plist

# 9: entitlements and the launchd plist.
others() {
	plist "$OUT/entitlements/extension.entitlements" \
	    "p == {'com.apple.developer.endpoint-security.client': True}" &&
	    plist "$OUT/entitlements/app.entitlements" \
	    "p == {'com.apple.developer.system-extension.install': True}" &&
	    plist "$(ls "$OUT"/launchd/*.plist)" "
		p['ProgramArguments'][0] == '/usr/local/sbin/verdictd';
		p['ProgramArguments'][1:] == ['-c', '/Library/Application Support/verdictd/verdictd.conf'];
		p['KeepAlive'] is True"
}
check "entitlements (ES client; system-extension install) and the launchd plist" others

# 10: the example policy is valid (checked by this build's verdictd), and
# the example configuration names the es backend and the policy.
examples() {
	"$VERDICTD" -b gen --check-policy "$APP/Contents/Resources/verdict.rules" \
	    >"$TMP/err" 2>&1 &&
	    grep -qx 'name = es' "$APP/Contents/Resources/verdictd.conf" &&
	    grep -qx 'file = /Library/Application Support/verdictd/verdict.rules' \
	    "$APP/Contents/Resources/verdictd.conf"
}
check "the bundled example policy passes verdictd --check-policy; the configuration uses es" examples

# 11-13: the simulator's EndpointSecurity.h against Apple's: every name it
# declares exists there, with the same value or prototype, and it defines
# no macro Apple's headers do not.
SIM=$ROOT/src/backend/sim/include
printf '#include <EndpointSecurity/EndpointSecurity.h>\n' >"$TMP/es.c"
names() { # names CLANG-ARGS... : "kind name|type" of the es_/ES_ declarations
	clang "$@" -fblocks -fsyntax-only -Xclang -ast-dump=json "$TMP/es.c" |
	    "$PY" -c '
import json, sys
for d in json.load(sys.stdin).get("inner", []):
    k, n = d.get("kind"), d.get("name", "")
    if k == "EnumDecl":
        for c in d.get("inner", []):
            if c.get("kind") == "EnumConstantDecl" and \
                    c["name"].startswith("ES_"):
                print("enum", c["name"])
    elif n.lower().startswith("es_") and k in ("FunctionDecl", "TypedefDecl"):
        print(k, n + "|" + d["type"]["qualType"])
'
}
APPLE="-target arm64-apple-macos12 -isysroot $SDK"
# shellcheck disable=SC2086
if names -I"$SIM" >"$TMP/sim" 2>"$TMP/err" &&
    names $APPLE >"$TMP/apple" 2>>"$TMP/err"; then
	cut -d'|' -f1 "$TMP/sim" | sort -u >"$TMP/sim.n"
	cut -d'|' -f1 "$TMP/apple" | sort -u >"$TMP/apple.n"
	comm -23 "$TMP/sim.n" "$TMP/apple.n" >"$TMP/err"
	check "every enumerator, function and type the simulator's EndpointSecurity.h declares is in Apple's macOS 12.0 SDK" \
	    test ! -s "$TMP/err"
else
	not_ok "every enumerator, function and type the simulator's EndpointSecurity.h declares is in Apple's macOS 12.0 SDK"
fi

# The values, as the simulator's header gives them, asserted against
# Apple's; the prototypes, as function pointers of the simulator's types
# initialized with Apple's functions (an incompatible one is an error).
same() {
	{
		echo '#include <stdio.h>'
		echo '#include <EndpointSecurity/EndpointSecurity.h>'
		echo 'int main(void) {'
		awk '$1 == "enum" { printf "\tprintf(\"_Static_assert(%s == %%lld, \\\"%s\\\");\\n\", (long long)%s);\n", $2, $2, $2 }' "$TMP/sim"
		echo '	return 0;'
		echo '}'
	} >"$TMP/values.c"
	printf '#include <EndpointSecurity/EndpointSecurity.h>\n' >"$TMP/check.c"
	clang -fblocks -I"$SIM" -o "$TMP/values" "$TMP/values.c" 2>"$TMP/err" &&
	    "$TMP/values" >>"$TMP/check.c" || return 1
	{
		grep '^FunctionDecl ' "$TMP/sim" | sed 's/^FunctionDecl //' |
		    "$PY" -c '
import re, sys
for line in sys.stdin:
    name, t = line.rstrip("\n").split("|", 1)
    ret, args = re.match(r"^(.*?)\s*\((.*)\)$", t).groups()
    print("%s (*const chk_%s)(%s) = %s;" % (ret, name, args, name))
'
	} >>"$TMP/check.c"
	# shellcheck disable=SC2086
	clang $APPLE -fblocks -fsyntax-only -Wno-deprecated-declarations \
	    -Wno-nullability-completeness -Werror=incompatible-function-pointer-types \
	    -Werror=incompatible-pointer-types "$TMP/check.c" >"$TMP/err" 2>&1
}
check "the simulator's enum values and function prototypes are Apple's" same

macros() { # macros "CLANG-ARGS" HEADER...: the names of the macros defined
	_args=$1
	shift
	for h in "$@"; do printf '#include <%s>\n' "$h"; done >"$TMP/m.c"
	# shellcheck disable=SC2086
	clang $_args -fblocks -dM -E "$TMP/m.c" >"$TMP/m.out" || return 1
	awk '{ print $2 }' "$TMP/m.out" | sed 's/(.*//' | sort -u
}
# shellcheck disable=SC2086
own_macros() {
	macros "-I$SIM" EndpointSecurity/EndpointSecurity.h >"$TMP/all" &&
	    macros "-I$SIM" stdbool.h stddef.h stdint.h sys/stat.h \
	    sys/types.h time.h bsm/libbsm.h >"$TMP/base" &&
	    macros "$APPLE" EndpointSecurity/EndpointSecurity.h >"$TMP/apple.m" &&
	    comm -23 "$TMP/all" "$TMP/base" | grep -v '^ESSIM_' |
	    comm -23 - "$TMP/apple.m" >"$TMP/err" && test ! -s "$TMP/err"
}
check "the simulator's EndpointSecurity.h defines no macro Apple's does not (FREAD, FWRITE come from <sys/fcntl.h>)" own_macros

# 14: tools/sign-macos, dry run: the commands it would run on a Mac.
sign() {
	"$ROOT/tools/sign-macos" -n -i "Developer ID Application: Test (TEAMID)" \
	    -t TEAMID -a app.provisionprofile -e ext.provisionprofile \
	    -k notary "$APP" >"$TMP/out" 2>"$TMP/err" || return 1
	if ! { grep -q "^+ codesign .*--entitlements $OUT/entitlements/extension.entitlements $EXT\$" "$TMP/out" &&
	    grep -q "^+ codesign .*--entitlements $OUT/entitlements/app.entitlements $APP\$" "$TMP/out" &&
	    grep -q '^+ xcrun notarytool submit' "$TMP/out" &&
	    grep -q '^+ xcrun stapler staple' "$TMP/out"; }; then
		cat "$TMP/out" >"$TMP/err"
		return 1
	fi
}
check "tools/sign-macos -n signs the extension, then the app, with their entitlements, and notarizes" sign

echo "1..$n"
[ "$n" -eq "$NCHECKS" ] || { echo "# expected $NCHECKS checks, ran $n"; exit 1; }
[ "$failed" -eq 0 ]
