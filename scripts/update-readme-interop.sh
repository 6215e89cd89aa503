#!/bin/sh
# Copy the interop table written by spec/integration/ejabberd_spec.lua
# (build/results/interop.md) into docs/interop.md (linked from README "Interoperability"),
# between the lines
#   <!-- interop-results:begin -->  and  <!-- interop-results:end -->
# Everything else in that file is left as it is.
#
# Usage: scripts/update-readme-interop.sh [RESULTS_FILE [DOC]]
#   (run `lua5.4 /usr/bin/busted --run=integration spec/integration/ejabberd_spec.lua` first)
set -eu

cd "$(dirname "$0")/.."
results=${1:-build/results/interop.md}
readme=${2:-docs/interop.md}
begin='<!-- interop-results:begin -->'
end='<!-- interop-results:end -->'

[ -s "$results" ] || { echo "update-readme-interop: $results is missing or empty (run the ejabberd spec)" >&2; exit 1; }
nb=$(grep -cxF "$begin" "$readme" || true)
ne=$(grep -cxF "$end" "$readme" || true)
if [ "$nb" != 1 ] || [ "$ne" != 1 ]; then
	echo "update-readme-interop: $readme needs exactly one '$begin' line and one '$end' line" >&2
	exit 1
fi

tmp=$(mktemp "${readme}.XXXXXX")
trap 'rm -f "$tmp"' EXIT
awk -v begin="$begin" -v end="$end" -v results="$results" '
	$0 == begin { print; while ((getline line < results) > 0) print line; skip = 1; next }
	$0 == end   { skip = 0 }
	!skip       { print }
' "$readme" >"$tmp"
if cmp -s "$tmp" "$readme"; then
	echo "update-readme-interop: $readme already up to date"
else
	cat "$tmp" >"$readme" # keep the file's inode and mode
	echo "update-readme-interop: updated $readme from $results"
fi
