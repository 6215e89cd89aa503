#!/bin/sh
# Kill processes left behind by integration test runs (spec/harness) and
# remove their temp roots. Safe to run at any time:
#
#   - each run keeps its files in /tmp/s2sp-it.XXXXXXXX/ with an `owner` file
#     (PID of the busted/lua process) and a `pids` file (every PID started);
#   - a run whose owner is still alive is left alone (another run in
#     progress) unless --force is given;
#   - a PID is only signalled when its command line names that run's
#     directory (so a reused PID is never hit); processes naming the
#     directory but missing from `pids` are found through /proc too;
#   - prosody / xmpp_driver processes naming a run directory that no longer
#     exists are killed (orphans);
#   - stale address claims in /tmp/s2sp-claims/ are released.
#
# Usage: scripts/kill-test-processes.sh [--force] [--quiet]
set -u

force=0
quiet=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	--quiet) quiet=1 ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "kill-test-processes: unknown argument $arg" >&2; exit 2 ;;
	esac
done

say() { [ "$quiet" = 1 ] || echo "kill-test-processes: $*"; }

alive() { # PID -> true when it exists and is not a zombie
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$state" != Z ] && [ "$state" != X ]
}

names_dir() { # PID DIR -> true when the process's command line mentions DIR/
	[ -r "/proc/$1/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$2/"
}

pids_of_run() { # DIR -> PIDs (recorded or found in /proc) whose cmdline names DIR
	dir=$1
	{
		[ -f "$dir/pids" ] && cut -d' ' -f1 "$dir/pids"
		for p in /proc/[0-9]*; do
			p=${p#/proc/}
			names_dir "$p" "$dir" && echo "$p"
		done
	} 2>/dev/null | sort -un | while read -r pid; do
		[ -n "$pid" ] && [ "$pid" != "$$" ] && alive "$pid" && names_dir "$pid" "$dir" && echo "$pid"
	done
}

status=0
for dir in /tmp/s2sp-it.*; do
	[ -d "$dir" ] || continue
	owner=$(cat "$dir/owner" 2>/dev/null || true)
	if [ "$force" = 0 ] && [ -n "$owner" ] && alive "$owner"; then
		say "skipping $dir: its test run (PID $owner) is still running (use --force)"
		continue
	fi
	pids=$(pids_of_run "$dir")
	if [ -n "$pids" ]; then
		say "stopping leftovers of $dir: $(printf '%s' "$pids" | tr '\n' ' ')"
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null
		i=0
		while [ $i -lt 50 ]; do
			left=""
			for pid in $pids; do alive "$pid" && left="$left $pid"; done
			[ -z "$left" ] && break
			sleep 0.1
			i=$((i + 1))
		done
		if [ -n "$left" ]; then
			say "SIGKILL to$left"
			# shellcheck disable=SC2086
			kill -KILL $left 2>/dev/null
			sleep 0.2
			for pid in $left; do
				if alive "$pid"; then say "PID $pid survived SIGKILL"; status=1; fi
			done
		fi
	fi
	rm -rf "$dir"
	say "removed $dir"
done

# Orphans: prosody / xmpp_driver processes naming a run directory that no
# longer exists (e.g. started under a wrapper whose PID was the one recorded).
orphans=""
for p in /proc/[0-9]*; do
	p=${p#/proc/}
	[ "$p" = "$$" ] && continue
	cmd=$( { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) || continue
	case "$cmd" in
	*/tmp/s2sp-it.*) ;;
	*) continue ;;
	esac
	case "$cmd" in
	*prosody*|*xmpp_driver*|*beam.smp*|*ejabberdctl*) ;;
	*) continue ;;
	esac
	root=$(printf '%s\n' "$cmd" | grep -o '/tmp/s2sp-it\.[A-Za-z0-9]*' | head -n 1)
	[ -n "$root" ] && [ ! -d "$root" ] && alive "$p" && orphans="$orphans $p"
done
if [ -n "$orphans" ]; then
	say "killing orphaned test processes:$orphans"
	# shellcheck disable=SC2086
	kill -KILL $orphans 2>/dev/null
fi

for claim in /tmp/s2sp-claims/*; do
	[ -d "$claim" ] || continue
	owner=$(cat "$claim/owner" 2>/dev/null || true)
	if [ -z "$owner" ] || ! alive "$owner" || [ "$force" = 1 ]; then
		rm -rf "$claim"
	fi
done

exit $status
