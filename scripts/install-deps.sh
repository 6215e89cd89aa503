#!/bin/sh
# Install the Debian packages mod_s2s_partners needs to build, test and run.
# Idempotent: does nothing (and needs no network) when everything is present.
set -eu

PKGS="gcc make pkg-config openssl ca-certificates
      liblua5.4-dev lua5.4 libssl-dev libidn2-dev
      prosody lua-unbound lua-busted lua-check cppcheck clang
      python3 python3-slixmpp procps iproute2
      lua-socket lua-sec lua-filesystem lua-dkjson"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root, or install them yourself)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
