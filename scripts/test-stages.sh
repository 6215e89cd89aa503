#!/bin/sh
# Run `make` stages one after another, each to the end even when an earlier one failed, with
# their output in LOG (and on the terminal); then print every stage's result and time, and the
# closing line of scripts/test-summary.sh. Exits non-zero when any stage failed.
# Usage: MAKE=make sh scripts/test-stages.sh LOG STAGE...
set -u
log=$1; shift
make=${MAKE:-make}
dir=$(dirname "$0")
mkdir -p "$(dirname "$log")"
: > "$log"
rc=0; summary=""; all_start=$(date +%s)
for stage in "$@"; do
	start=$(date +%s)
	echo "== stage $stage" | tee -a "$log"
	# The stage's status survives the pipe through tee via a file.
	{ $make "$stage"; echo $? > "$log.rc"; } 2>&1 | tee -a "$log"
	r=$(cat "$log.rc"); rm -f "$log.rc"
	if [ "$r" = 0 ]; then res=ok; else res=FAILED; rc=1; fi
	summary="$summary
  $stage: $res ($(($(date +%s) - start)) s)"
done
echo "== stages (total $(($(date +%s) - all_start)) s):$summary" | tee -a "$log"
sh "$dir/test-summary.sh" "$log" "$rc"
s=$?
[ "$rc" = 0 ] && exit "$s"
exit "$rc"
