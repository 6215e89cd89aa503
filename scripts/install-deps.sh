#!/bin/sh
# Install the Debian packages mod_s2s_partners needs to build, test and run.
# Idempotent: does nothing (and needs no network) when everything is present.
# Also installs Prosody 13 into a private prefix (scripts/install-prosody13.sh).
set -eu

PKGS="gcc make pkg-config openssl ca-certificates
      liblua5.4-dev lua5.4 libssl-dev libidn2-dev
      prosody lua-unbound lua-busted lua-check cppcheck clang
      python3 python3-slixmpp python3-matplotlib procps iproute2
      lua-socket lua-sec lua-filesystem lua-dkjson
      ejabberd chromium
      dpkg-dev debhelper luarocks
      postgresql lua-dbi-postgresql lua-dbi-sqlite3"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages:$missing (run as root, or install them yourself)" >&2
		exit 1
	fi
	echo "install-deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Prosody 13 (bookworm-backports) unpacked into its own prefix, for the two-version
# integration run; the system package above stays Prosody 0.12.3. Instant when present.
sh "$(dirname "$0")/install-prosody13.sh"

# The web panel's browser spec (spec/integration/web_spec.lua): Node.js and npm (Debian's, unless
# a node is already installed), then playwright-core as locked in spec/browser/package-lock.json;
# the browser is Debian's chromium above. Instant when present.
browser_dir="$(dirname "$0")/../spec/browser"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: node / npm missing (run as root, or install nodejs and npm yourself)" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# (npm writes node_modules/.package-lock.json at install time: newer than the lock when current)
if [ ! -f "$browser_dir/node_modules/playwright-core/package.json" ] ||
   [ "$browser_dir/package-lock.json" -nt "$browser_dir/node_modules/.package-lock.json" ]; then
	echo "install-deps: npm ci in spec/browser"
	(cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
