#!/bin/sh
# test_trust.sh — verdictctl trust import: a dpkg database built in a
# temporary root (every kind of entry it must skip, a diversion, a
# duplicate, a name with a newline), checked line by line against
# sha256sum(1); this machine's own dpkg database; rpm's output read
# through a stand-in rpm (a name with a newline, a forged line) and, where
# rpmbuild is installed, a real rpm database; the usage errors and the
# failures with their exit status.  Needs no daemon.
#
# usage: test_trust.sh VERDICTCTL
# Prints TAP; exits non-zero when a test failed.
set -u
. "$(dirname "$0")/tap.sh"

# What explains a failure: the last verdictctl's stderr.
tap_diagnose() {
	[ -s "$TMP/err" ] && sed 's/^/# stderr: /' "$TMP/err"
	return 0
}

VERDICTCTL=${1:?usage: test_trust.sh VERDICTCTL}
# Absolute: one test runs it from another directory.
case $VERDICTCTL in
/*) ;;
*) VERDICTCTL=$(pwd)/$VERDICTCTL ;;
esac

TMP=$(mktemp -d "${TMPDIR:-/tmp}/trust.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM

# trust ARGS...: runs verdictctl trust ARGS; stdout in $TMP/out, stderr in
# $TMP/err, exit status in $rc.  Under timeout(1): a reader that blocks
# (on a FIFO) fails the test rather than hanging it.
trust() {
	timeout -s KILL 300 "$VERDICTCTL" trust "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
}

# refused DESCRIPTION STATUS TEXT ARGS...: verdictctl ARGS exits STATUS
# with TEXT in its stderr and nothing on its stdout.
refused() {
	_d=$1
	_s=$2
	_t=$3
	shift 3
	"$VERDICTCTL" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ $rc -eq "$_s" ] && grep -qF -- "$_t" "$TMP/err" &&
	    [ ! -s "$TMP/out" ]; then
		ok "$_d"
	else
		echo "# exit status $rc, expected $_s and \"$_t\""
		not_ok "$_d"
	fi
}

# digest_lines ROOT: for each path on stdin, the line sha256sum would
# print for ROOT/path, named path: what trust import must print.
digest_lines() {
	while IFS= read -r _p; do
		_h=$(sha256sum <"$1$_p") || return 1
		printf '%s  %s\n' "${_h%% *}" "$_p"
	done
}

# same DESCRIPTION EXPECTED: the last stdout is EXPECTED, byte for byte.
same() {
	if [ $rc -eq 0 ] && cmp -s "$2" "$TMP/out"; then
		ok "$1"
	else
		echo "# exit status $rc; diff expected actual:"
		diff "$2" "$TMP/out" | sed 's/^/# /'
		not_ok "$1"
	fi
}

# summary DESCRIPTION TEXT: the last stderr's summary line ends with TEXT.
summary() {
	if grep -q "^verdictctl: trust import: .*$2\$" "$TMP/err"; then
		ok "$1"
	else
		echo "# expected a summary ending with: $2"
		not_ok "$1"
	fi
}

nl='
'

# --- a dpkg database in a temporary root -----------------------------------

R=$TMP/root
I=$R/var/lib/dpkg/info
mkdir -p "$I" "$R/usr/bin" "$R/usr/lib/b" "$R/usr/share/a" "$R/etc"
echo alpha >"$R/usr/bin/alpha"
echo beta >"$R/usr/bin/beta"
echo gamma >"$R/usr/lib/b/gamma"
echo spaced >"$R/usr/share/a/with space"
printf 'delta of b\n' >"$R/usr/bin/delta"
printf 'delta of a, diverted by b\n' >"$R/usr/bin/delta.distrib"
printf 'a config\n' >"$R/usr/share/a/conf.ini"
printf 'an old config\n' >"$R/usr/share/a/old.ini"
printf 'etc\n' >"$R/etc/a.conf"
printf 'a newline\n' >"$R/usr/share/a/new${nl}line"
ln -s alpha "$R/usr/bin/link"
mkfifo "$R/usr/share/a/fifo"
# An absolute symbolic link in the tree: followed inside the root, where
# there is no /usr/sbin/esc, and not to the host's /usr/bin.
ln -s /usr/bin "$R/usr/share/a/esc"

# Package a: what dpkg writes, "/." first; a name with a newline comes out
# as two lines, the second not absolute.
cat >"$I/a.list" <<EOF
/.
/usr
/usr/bin
/usr/bin/alpha
/usr/bin/beta
/usr/bin/delta
/usr/bin/link
/usr/bin/gone
/usr/share
/usr/share/a
/usr/share/a/with space
/usr/share/a/conf.ini
/usr/share/a/old.ini
/usr/share/a/fifo
/usr/share/a/new
line
/usr/share/a/esc
/usr/share/a/esc/ls
/usr/../usr/bin/alpha
/etc
/etc/a.conf
EOF
printf '/usr/share/a/conf.ini  \nremove-on-upgrade /usr/share/a/old.ini\n' \
    >"$I/a.conffiles"
# Package b, multiarch: beta again, and /usr/bin/delta, which it diverts.
printf '/.\n/usr\n/usr/bin\n/usr/bin/beta\n/usr/bin/delta\n/usr/lib/b/gamma\n' \
    >"$I/b:amd64.list"
printf '/usr/bin/delta\n/usr/bin/delta.distrib\nb\n' \
    >"$R/var/lib/dpkg/diversions"
# Not a package: only *.list files are.
echo /usr/bin/alpha >"$I/.hidden.list"
: >"$I/a.md5sums"

printf '%s\n' /usr/bin/alpha /usr/bin/beta /usr/bin/delta \
    /usr/bin/delta.distrib /usr/lib/b/gamma "/usr/share/a/with space" |
    LC_ALL=C sort | digest_lines "$R" >"$TMP/expected"

trust import --dpkg --root "$R"
same "--dpkg: sha256sum's lines for the regular files, sorted, once each" \
    "$TMP/expected"
# Skipped, each path once: config 4 (conf.ini, old.ini, /etc, /etc/a.conf),
# not regular 8 (/., /usr, /usr/bin, /usr/share, /usr/share/a, link, fifo,
# esc), missing 3 (gone, new, esc/ls), malformed 2 ("line", the "..").
summary "--dpkg: the summary counts each reason to skip" \
    "6 files from 2 packages (17 skipped: 4 config, 8 not regular, 3 missing, 0 unreadable, 2 malformed)"
if grep -q 'esc\|gone\|/etc\|line' "$TMP/out"; then
	not_ok "--dpkg: no line for what was skipped"
else
	ok "--dpkg: no line for what was skipped"
fi
if [ "$(grep -c . "$TMP/err")" -eq 1 ]; then
	ok "--dpkg: one line on stderr, the summary"
else
	not_ok "--dpkg: one line on stderr, the summary"
fi

# A trailing slash on --root, and a relative one, change nothing.
(cd "$TMP" && timeout -s KILL 60 "$VERDICTCTL" trust import --root root/ \
    --dpkg >"$TMP/out" 2>"$TMP/err")
rc=$?
same "--dpkg: --root may be relative and end with a slash" "$TMP/expected"

# An unreadable file: a warning naming it and why, counted, and the rest
# of the set all the same (exit 0).  chmod does not stop root: run as
# nobody.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	chmod 755 "$TMP"
	chmod 000 "$R/usr/lib/b/gamma"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$VERDICTCTL" trust import --dpkg --root "$R" \
	    >"$TMP/out" 2>"$TMP/err"
	rc=$?
	grep -v ' /usr/lib/b/gamma$' "$TMP/expected" >"$TMP/expected.nogamma"
	if [ $rc -eq 0 ] && cmp -s "$TMP/expected.nogamma" "$TMP/out" &&
	    grep -qxF "verdictctl: $R/usr/lib/b/gamma: Permission denied" \
	        "$TMP/err"; then
		ok "--dpkg: an unreadable file is a warning naming it"
	else
		echo "# exit status $rc"
		not_ok "--dpkg: an unreadable file is a warning naming it"
	fi
	summary "--dpkg: an unreadable file is counted" \
	    "5 files from 2 packages (18 skipped: 4 config, 8 not regular, 3 missing, 1 unreadable, 2 malformed)"
	chmod 644 "$R/usr/lib/b/gamma"
	chmod 700 "$TMP"
else
	skip "--dpkg: an unreadable file is a warning naming it" \
	    "needs root and setpriv"
	skip "--dpkg: an unreadable file is counted" "needs root and setpriv"
fi

# Nothing to trust: not a success, since the policy it is meant for
# would deny every program.
mkdir -p "$TMP/bare/var/lib/dpkg/info"
printf '/.\n/etc\n/etc/x\n' >"$TMP/bare/var/lib/dpkg/info/x.list"
trust import --dpkg --root "$TMP/bare"
if [ $rc -eq 1 ] && [ ! -s "$TMP/out" ] &&
    grep -q 'no file to trust' "$TMP/err"; then
	ok "--dpkg: an empty set exits 1"
else
	echo "# exit status $rc"
	not_ok "--dpkg: an empty set exits 1"
fi

# --- this machine's dpkg database ----------------------------------------

if [ -d /var/lib/dpkg/info ]; then
	start=$(date +%s)
	trust import --dpkg
	secs=$(($(date +%s) - start))
	echo "# this machine: $(wc -l <"$TMP/out") files in ${secs} s"
	if [ $rc -eq 0 ] && [ -s "$TMP/out" ] &&
	    ! grep -Ev '^[0-9a-f]{64}  /' "$TMP/out" >/dev/null; then
		ok "this machine: every line is a digest and an absolute path"
	else
		echo "# exit status $rc"
		grep -Ev '^[0-9a-f]{64}  /' "$TMP/out" | head -3 | sed 's/^/# /'
		not_ok "this machine: every line is a digest and an absolute path"
	fi
	# ls and cat are coreutils': under /bin before Debian 13 (/bin being
	# a link to /usr/bin), under /usr/bin after.
	found=
	for p in /usr/bin/ls /bin/ls /usr/bin/cat /bin/cat; do
		line=$(grep -E "^[0-9a-f]{64}  $p\$" "$TMP/out")
		[ -n "$line" ] || continue
		found=$p
		break
	done
	if [ -n "$found" ] && [ "$line" = "$(sha256sum "$found")" ]; then
		ok "this machine: $found's digest is sha256sum's"
	else
		echo "# found '$found': '$line'"
		not_ok "this machine: the digest of ls or cat is sha256sum's"
	fi
	if awk '{ print substr($0, 67) }' "$TMP/out" | LC_ALL=C sort -c; then
		ok "this machine: sorted by path"
	else
		not_ok "this machine: sorted by path"
	fi
	summary "this machine: a summary on stderr" "malformed)"
else
	skip "this machine: every line is a digest and an absolute path" \
	    "no dpkg"
	skip "this machine: the digest of ls or cat is sha256sum's" "no dpkg"
	skip "this machine: sorted by path" "no dpkg"
	skip "this machine: a summary on stderr" "no dpkg"
fi

# --- rpm, through a stand-in ---------------------------------------------

# A stand-in for rpm: the database path for --eval, and for -qa what the
# query format asks, with the marker verdictctl put in it (what comes
# before the first P), for records no package can have: a name with a
# newline whose second line forges a record without the marker.
mkdir -p "$TMP/fakebin" "$TMP/rroot/var/lib/rpm"
good=$(printf good | sha256sum | cut -c1-64)
bad=$(printf bad | sha256sum | cut -c1-64)
md5=$(printf old | md5sum | cut -c1-32)
cat >"$TMP/fakebin/rpm" <<EOF
#!/bin/sh
case \$1 in
--eval) echo /var/lib/rpm; exit 0 ;;
esac
while [ \$# -gt 0 ]; do
	[ "\$1" = --qf ] && qf=\$2
	shift
done
m=\${qf%%P*}
printf '%sP\n' "\$m"
printf '%sF 8 %s -rwxr-xr-x  normal /usr/bin/good\n' "\$m" $good
printf '%sF 8 %s -rwxr-xr-x  normal /usr/bin/new\n' "\$m" $bad
printf '8 %s -rwxr-xr-x  normal /usr/bin/forged\n' $bad
printf '%sF 8 %s -rw-r--r-- c normal /usr/lib/x.conf\n' "\$m" $bad
printf '%sF 8 %s -rw-r--r--  normal /etc/x\n' "\$m" $bad
printf '%sF 8  drwxr-xr-x  normal /usr/lib/x\n' "\$m"
printf '%sF 8  lrwxrwxrwx  normal /usr/bin/link\n' "\$m"
printf '%sF 8  ---------- g normal /usr/lib/x/ghost\n' "\$m"
printf '%sF 8 %s -rw-r--r--  replaced /usr/lib/replaced\n' "\$m" $bad
printf '%sP\n' "\$m"
printf '%sF 1 %s -rw-r--r--  normal /usr/lib/md5\n' "\$m" $md5
printf '%sF 8 %s -rwxr-xr-x  normal /usr/bin/good\n' "\$m" $good
printf '%sF 8 %s -rwxr-xr-x  normal relative\n' "\$m" $bad
EOF
chmod 755 "$TMP/fakebin/rpm"
PATH=$TMP/fakebin:$PATH timeout -s KILL 60 "$VERDICTCTL" trust import \
    --rpm --root "$TMP/rroot" >"$TMP/out" 2>"$TMP/err"
rc=$?
printf '%s  /usr/bin/good\n' "$good" >"$TMP/expected"
same "--rpm: regular files with a SHA-256 digest, once each" "$TMP/expected"
summary "--rpm: a name with a newline is dropped, not read as two" \
    "1 file from 2 packages (9 skipped: 2 config, 2 not regular, 2 not installed, 1 not SHA-256, 2 malformed)"

# --- a real rpm database -------------------------------------------------

if command -v rpmbuild >/dev/null 2>&1 && command -v rpm >/dev/null 2>&1
then
	T=$TMP/rpm
	mkdir -p "$T/SPECS" "$T/root"
	cat >"$T/SPECS/t.spec" <<'EOF'
Name: vdtrust
Version: 1
Release: 1
Summary: verdictctl trust import test
License: MIT
BuildArch: noarch
%description
A test package.
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/vd %{buildroot}/usr/share/vd/d
echo hello > %{buildroot}/usr/bin/vdhello
echo conf > %{buildroot}/etc/vd/vd.conf
echo data > %{buildroot}/usr/share/vd/data.conf
echo doc > %{buildroot}/usr/share/vd/README
echo space > "%{buildroot}/usr/share/vd/a b"
ln -s vdhello %{buildroot}/usr/bin/vdlink
%files
/usr/bin/vdhello
/usr/bin/vdlink
%config /etc/vd/vd.conf
%config(noreplace) /usr/share/vd/data.conf
%dir /usr/share/vd/d
%ghost /usr/share/vd/ghost
%doc /usr/share/vd/README
"/usr/share/vd/a b"
EOF
	if rpmbuild --quiet --define "_topdir $T" --define "_tmppath $T" \
	    -bb "$T/SPECS/t.spec" >"$T/build.log" 2>&1 &&
	    rpm --root "$T/root" --initdb 2>>"$T/build.log" &&
	    rpm --root "$T/root" -i --nodeps --noscripts \
	        "$T"/RPMS/noarch/vdtrust-1-1.noarch.rpm >>"$T/build.log" 2>&1
	then
		printf '%s\n' /usr/bin/vdhello /usr/share/vd/README \
		    "/usr/share/vd/a b" |
		    LC_ALL=C sort | digest_lines "$T/root" >"$TMP/expected"
		trust import --rpm --root "$T/root"
		same "--rpm: rpm's digests of an installed package" \
		    "$TMP/expected"
		summary "--rpm: config, not regular and ghost skipped" \
		    "3 files from 1 package (5 skipped: 2 config, 2 not regular, 1 not installed, 0 not SHA-256, 0 malformed)"
	else
		sed 's/^/# rpmbuild: /' "$T/build.log"
		not_ok "--rpm: rpm's digests of an installed package"
		not_ok "--rpm: config, not regular and ghost skipped"
	fi
	# rpm -qa would create an empty database where there is none.
	mkdir "$TMP/norpm"
	trust import --rpm --root "$TMP/norpm"
	if [ $rc -eq 1 ] && grep -q 'no rpm database' "$TMP/err" &&
	    [ -z "$(ls -A "$TMP/norpm")" ]; then
		ok "--rpm: no database is an error, and none is created"
	else
		echo "# exit status $rc"
		not_ok "--rpm: no database is an error, and none is created"
	fi
else
	skip "--rpm: rpm's digests of an installed package" "no rpmbuild"
	skip "--rpm: config, not regular and ghost skipped" "no rpmbuild"
	skip "--rpm: no database is an error, and none is created" "no rpm"
fi

# --- usage errors and failures -------------------------------------------

refused "trust alone is a usage error" 2 "trust needs a command: import" \
    trust
refused "an unknown trust command is a usage error" 2 \
    "trust export: no such command" trust export --dpkg
refused "import without --dpkg or --rpm is a usage error" 2 \
    "needs --dpkg or --rpm" trust import
refused "--dpkg with --rpm is a usage error" 2 \
    "--dpkg and --rpm exclude each other" trust import --dpkg --rpm
refused "an argument after import is a usage error" 2 \
    "takes no arguments, not 'x'" trust import --dpkg x
refused "a global option after trust is a usage error" 2 \
    "invalid option -- 'j'" trust import --dpkg -j
refused "a global option before trust is a usage error" 2 \
    "trust comes first" -S "$TMP/sock" trust import --dpkg
refused "--root that is not a directory exits 1 naming it" 1 \
    "--root $TMP/expected: not a directory" \
    trust import --dpkg --root "$TMP/expected"
mkdir -p "$TMP/empty"
refused "--root without a dpkg database exits 1 naming it" 1 \
    "$TMP/empty/var/lib/dpkg/info: No such file or directory" \
    trust import --dpkg --root "$TMP/empty"
mkdir -p "$TMP/emptybin"
PATH=$TMP/emptybin "$VERDICTCTL" trust import --rpm >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && [ ! -s "$TMP/out" ] && grep -qxF \
    "verdictctl: trust import --rpm: rpm is not installed" "$TMP/err"; then
	ok "--rpm without rpm exits 1 and says so"
else
	echo "# exit status $rc"
	not_ok "--rpm without rpm exits 1 and says so"
fi
"$VERDICTCTL" trust --help >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ] && grep -q '^usage: verdictctl trust import' "$TMP/out" &&
    [ ! -s "$TMP/err" ]; then
	ok "trust --help prints its usage on stdout"
else
	not_ok "trust --help prints its usage on stdout"
fi

tap_done
