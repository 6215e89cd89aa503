#!/bin/sh
# Replace the generated negotiation results in docs/negotiation-results.md (between the
# <!-- negotiation-results:begin --> and <!-- negotiation-results:end --> markers)
# with build/results/negotiation.md, as written by spec/integration/negotiation_spec.lua.
# The results live in docs/negotiation-results.md (README "Negotiation results (tested)").
#
#   lua5.4 /usr/bin/busted --run=integration spec/integration/negotiation_spec.lua
#   sh scripts/update-readme-results.sh [RESULTS] [DOC]
set -eu

results=${1:-build/results/negotiation.md}
readme=${2:-docs/negotiation-results.md}
begin='<!-- negotiation-results:begin -->'
end='<!-- negotiation-results:end -->'

[ -s "$results" ] || { echo "$0: $results is missing or empty: run the negotiation spec first" >&2; exit 1; }
if grep -q -e '| FAILED |' -e '| not run |' "$results"; then
	echo "$0: $results has failed or skipped cases; not copying it into $readme" >&2
	exit 1
fi
[ "$(grep -c -F -x -e "$begin" "$readme")" = 1 ] && [ "$(grep -c -F -x -e "$end" "$readme")" = 1 ] || {
	echo "$0: $readme needs exactly one '$begin' line and one '$end' line" >&2
	exit 1
}

tmp=$(mktemp "${readme}.XXXXXX")
trap 'rm -f "$tmp"' EXIT
awk -v begin="$begin" -v end="$end" -v results="$results" '
	$0 == begin { print; print ""; while ((getline line < results) > 0) print line; print ""; skip = 1; next }
	$0 == end { skip = 0 }
	!skip { print }
' "$readme" > "$tmp"
cat "$tmp" > "$readme" # keep the file's mode and inode
echo "updated $readme from $results"
