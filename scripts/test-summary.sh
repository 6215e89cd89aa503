#!/bin/sh
# Sum the busted result lines ("N successes / N failures / N errors / N pending") of a
# `make test` log into one closing line: "tests: N passed, N failed, N skipped", preceded by
# the name and first message line of each failed test (busted's "Failure -> FILE @ LINE" and
# "Error -> FILE @ LINE" blocks), so that the end of a CI log says what failed.
# Usage: scripts/test-summary.sh LOG [RC]; a non-zero RC with no failure counted adds one.
log=$1
rc=${2:-0}
awk -v rc="$rc" '
	{ gsub(/\033\[[0-9;]*m/, "") }
	/^(Failure|Error) (->|→) / { where = $0; show = 2; next }
	show > 0 {
		if (show == 2) name = $0; else failures[++nfail] = where " | " name " | " substr($0, 1, 300)
		show--
		next
	}
	/[0-9]+ success(es)? \/ [0-9]+ failures? \/ [0-9]+ errors? \/ [0-9]+ pending/ {
		for (i = 1; i <= NF; i++) {
			if ($(i + 1) ~ /^success/) passed += $i
			else if ($(i + 1) ~ /^failure/ || $(i + 1) ~ /^error/) failed += $i
			else if ($(i + 1) ~ /^pending/) skipped += $i
		}
		runs++
	}
	END {
		if (rc != 0 && failed == 0) failed = 1
		for (i = 1; i <= nfail && i <= 20; i++) print "failed: " failures[i]
		if (nfail > 20) printf "failed: ... and %d more\n", nfail - 20
		if (runs == 0 && rc == 0) { print "tests: no test results found"; exit 1 }
		printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped
	}' "$log"
