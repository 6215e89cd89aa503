#!/bin/sh
# `make deb` (README "Installing"): build the Debian package from a copy of the sources, with
# packaging/debian as its debian/ directory, into build/deb/. Needs dpkg-dev and debhelper
# (scripts/install-deps.sh). The package's own build skips the unit specs (DEB_BUILD_OPTIONS
# nocheck): `make test` runs them.
set -eu

out=build/deb
rm -rf "$out"
mkdir -p "$out/src"
cp -r Makefile module lua scripts "$out/src/"
cp -r packaging/debian "$out/src/debian"
(cd "$out/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b >../build.log 2>&1) || {
	tail -30 "$out/build.log" >&2
	exit 1
}
ls "$out"/*.deb
