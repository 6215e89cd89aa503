#!/bin/sh
# Install Prosody 13 from Debian bookworm-backports into a private prefix, next to the system's
# Prosody 0.12.3 (which stays the installed package), for the two-version integration run.
#
#   PREFIX (env S2SP_PROSODY13_PREFIX, default /opt/s2sp-prosody13) receives:
#     usr/...            the unpacked package (dpkg -x), not registered with dpkg
#     bin/prosody        copies of usr/bin/prosody{,ctl} whose CFG_SOURCEDIR / CFG_CONFIGDIR /
#     bin/prosodyctl     CFG_PLUGINDIR / CFG_DATADIR lines point into the prefix
#     .installed         the package version, written last: present = done
#
# Idempotent: when .installed is there and the launchers exist it exits at once, with no
# network and no root. Otherwise (as root) it adds bookworm-backports as a separate apt source
# (/etc/apt/sources.list.d/s2sp-bookworm-backports.sources) with the URI of the machine's own
# Debian source, updates that source only, downloads the package and unpacks it.
# Never run `prosody --version`: Prosody ignores unknown flags and starts a server.
set -eu

PREFIX="${S2SP_PROSODY13_PREFIX:-/opt/s2sp-prosody13}"
SUITE=bookworm-backports
SRC_FILE=/etc/apt/sources.list.d/s2sp-bookworm-backports.sources
# The Lua modules Prosody 13 loads (same lua5.4 builds as 0.12.3's) and their packages.
LUA_MODULES="lxp lfs ssl socket"
LUA_PKGS="lua-expat lua-filesystem lua-sec lua-socket"

say() { echo "install-prosody13: $*"; }

if [ -s "$PREFIX/.installed" ] && [ -x "$PREFIX/bin/prosody" ] && [ -x "$PREFIX/bin/prosodyctl" ] \
	&& [ -f "$PREFIX/usr/lib/prosody/prosody.version" ]; then
	exit 0
fi

case "$PREFIX" in
/?*) ;;
*) say "S2SP_PROSODY13_PREFIX must be an absolute path, not '$PREFIX'" >&2; exit 1 ;;
esac

if [ "$(id -u)" != 0 ]; then
	say "Prosody 13 is not installed in $PREFIX (run as root, or set S2SP_PROSODY13_PREFIX)" >&2
	exit 1
fi

started=$(date +%s)
export DEBIAN_FRONTEND=noninteractive

# The URI and keyring of the machine's Debian archive entry (deb822 or one-line format).
debian_source() {
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		awk '
			/^[ \t]*$/ { if (suites ~ /(^|[ \t])bookworm([ \t]|$)/ && uri != "") { print uri; print key; exit }
			             uri = ""; suites = ""; key = ""; next }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { suites = $0; sub(/^[^:]*:/, "", suites); suites = suites " " }
			tolower($1) == "signed-by:" { key = $2 }
			END { if (suites ~ /(^|[ \t])bookworm([ \t]|$)/ && uri != "") { print uri; print key } }
		' /etc/apt/sources.list.d/debian.sources | head -n 2
	elif [ -f /etc/apt/sources.list ]; then
		awk '$1 == "deb" && $3 == "bookworm" { print $2; print ""; exit }
		     $1 == "deb" && $2 ~ /^\[/ && $4 == "bookworm" { print $3; print ""; exit }' /etc/apt/sources.list
	fi
}

# Is the suite in an apt source already (ours, or one the administrator added)?
backports_configured() {
	grep -qsE "^[^#]*[[:space:]:]$SUITE([[:space:]]|$)" /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources
}

if ! backports_configured; then
	src=$(debian_source)
	uri=$(echo "$src" | sed -n 1p)
	key=$(echo "$src" | sed -n 2p)
	if [ -z "$uri" ]; then
		say "cannot find the Debian bookworm source in /etc/apt (debian.sources or sources.list)" >&2
		exit 1
	fi
	say "adding $SUITE from $uri ($SRC_FILE)"
	{
		echo "# Added by mod_s2s_partners scripts/install-prosody13.sh (Prosody 13 for tests)."
		echo "Types: deb"
		echo "URIs: $uri"
		echo "Suites: $SUITE"
		echo "Components: main"
		[ -z "$key" ] || echo "Signed-By: $key"
	} >"$SRC_FILE"
fi

if ! apt-cache policy prosody 2>/dev/null | grep -q " $SUITE/main "; then
	if [ -f "$SRC_FILE" ]; then
		# Refresh only the backports index (fast; leaves the other lists alone).
		apt-get update -qq -o Dir::Etc::sourcelist="$SRC_FILE" -o Dir::Etc::sourceparts=- \
			-o APT::Get::List-Cleanup=0
	else
		apt-get update -qq
	fi
fi

# Runtime dependencies: the Lua modules must load in lua5.4.
for m in $LUA_MODULES; do
	if ! lua5.4 -e "require '$m'" >/dev/null 2>&1; then
		say "installing $LUA_PKGS"
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $LUA_PKGS >/dev/null
		break
	fi
done

work=$(mktemp -d /tmp/s2sp-prosody13.XXXXXX)
trap 'rm -rf "$work"' EXIT
# apt downloads as its _apt user, which must be able to write there.
chown _apt "$work" 2>/dev/null || true
(cd "$work" && apt-get download -qq "prosody/$SUITE") || true
deb=$(find "$work" -maxdepth 1 -name "prosody_*.deb" | head -n 1)
if [ -z "$deb" ]; then
	say "could not download prosody/$SUITE" >&2
	exit 1
fi
version=$(dpkg-deb -f "$deb" Version)

# Unpack into a fresh directory next to the prefix, then swap it in (no half-installed prefix).
tmp_prefix="$PREFIX.new.$$"
rm -rf "$tmp_prefix"
mkdir -p "$tmp_prefix"
dpkg -x "$deb" "$tmp_prefix"
mkdir -p "$tmp_prefix/bin" "$tmp_prefix/etc/prosody" "$tmp_prefix/var/lib/prosody"
for b in prosody prosodyctl; do
	# CFG_* point where the prefix will be once moved into place.
	sed -e "s|^CFG_SOURCEDIR=.*|CFG_SOURCEDIR='$PREFIX/usr/lib/prosody';|" \
	    -e "s|^CFG_CONFIGDIR=.*|CFG_CONFIGDIR='$PREFIX/etc/prosody';|" \
	    -e "s|^CFG_PLUGINDIR=.*|CFG_PLUGINDIR='$PREFIX/usr/lib/prosody/modules/';|" \
	    -e "s|^CFG_DATADIR=.*|CFG_DATADIR='$PREFIX/var/lib/prosody';|" \
	    "$tmp_prefix/usr/bin/$b" >"$tmp_prefix/bin/$b"
	chmod 0755 "$tmp_prefix/bin/$b"
	if [ "$(grep -c "^CFG_[A-Z]*DIR='$PREFIX/" "$tmp_prefix/bin/$b")" != 4 ]; then
		say "unexpected CFG_* lines in usr/bin/$b of $version" >&2
		rm -rf "$tmp_prefix"
		exit 1
	fi
done
echo "$version" >"$tmp_prefix/.installed"
rm -rf "$PREFIX"
mv "$tmp_prefix" "$PREFIX"
say "Prosody $(cat "$PREFIX/usr/lib/prosody/prosody.version") ($version) in $PREFIX" \
	"($(($(date +%s) - started)) s)"
