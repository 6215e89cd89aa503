#!/bin/sh
# Sum the busted result lines ("N successes / N failures / N errors / N pending") of a
# `make test` log into one closing line: "tests: N passed, N failed, N skipped".
# Usage: scripts/test-summary.sh LOG [RC]; a non-zero RC with no failure counted adds one.
log=$1
rc=${2:-0}
awk -v rc="$rc" '
	/[0-9]+ successes? \/ [0-9]+ failures? \/ [0-9]+ errors? \/ [0-9]+ pending/ {
		gsub(/\033\[[0-9;]*m/, "")
		for (i = 1; i <= NF; i++) {
			if ($(i + 1) ~ /^success/) passed += $i
			else if ($(i + 1) ~ /^failure/ || $(i + 1) ~ /^error/) failed += $i
			else if ($(i + 1) ~ /^pending/) skipped += $i
		}
		runs++
	}
	END {
		if (rc != 0 && failed == 0) failed = 1
		if (runs == 0 && rc == 0) { print "tests: no test results found"; exit 1 }
		printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped
	}' "$log"
