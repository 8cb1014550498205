# shellcheck shell=bash
# A test host's power and the fence daemon of cluster.sh (beside it; docs/cluster.md#fencing), sourced
# by it: boot, kill, a reboot's pending boot, the fence requests. Uses cluster.sh's C, SELF, WAIT,
# BOOT_DELAY, die, hosts, init_pid, in_host and host_init (`_init`).
#
# One power action on a host at a time: each runs under the host's lock (`locked`), whoever asks
# (a fence request, a reboot's pending boot, `kill`, `boot`, `down`). A host runs one instance at
# a time: host_boot refuses while any process of an earlier one is left. An orphaned second h3
# (two pending boots of two reboots racing, 2026-11-27) starved every later test of a 2-CPU host.

locked() { # HOST CMD...: CMD with HOST's lock held (fd 9; what CMD starts for longer closes it)
	local h=$1
	shift
	(
		flock -w $((WAIT + 30)) 9 || die "$h: another power action on it holds its lock"
		"$@"
	) 9>"$C/hosts/$h/lock"
}

power_log() { # what happened to a host's power, for the tests (never two instances at once)
	echo "$(date -u +%T.%N) $*" >>"$C/power.log"
}

# Every live process of HOST, of any instance: those in its network namespace and those carrying
# its marker (PETREL_CLUSTER_HOST, which every process its init starts inherits, also one that
# left the network namespace). A process in the host's pid namespace, or one nested in it (jailed
# workers: --new-pid-ns), dies with the init: the kernel kills every process of a pid namespace,
# nested ones included, before its init ends (host_kill waits for that).
host_procs() {
	{
		ip netns pids "pcl$1" 2>/dev/null || true
		grep -lzxF "PETREL_CLUSTER_HOST=$C/hosts/$1" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true
	} | sort -nu
}

describe() { # PID...: "PID(name) ..."
	local p
	for p; do
		printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm" 2>/dev/null)"
	done
}

is_ns_init() { # PID: pid 1 of a pid namespace below the root one
	[[ $(sed -n 's/^NSpid:\s*//p' "/proc/$1/status" 2>/dev/null) =~ [[:space:]]1$ ]]
}

gone() { # PID: ended (a zombie has ended: a pid namespace's init is one only once its namespace is empty)
	local s
	s=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 0
	[[ -z $s || $s == Z ]]
}

host_kill() { # HOST: SIGKILL every process of the host until none is left; or say which are (1)
	local h=$1 i p ps n=0 inits='' left
	for ((i = 0; i < 150; i++)); do
		ps=$(host_procs "$h")
		for p in $ps; do
			[[ " $inits " != *" $p "* ]] && is_ns_init "$p" && inits+=" $p"
		done
		left=$ps
		for p in $inits; do
			gone "$p" || left+=" $p"
		done
		if [[ -z ${left// /} ]]; then
			power_log "kill $h $n"
			return 0
		fi
		((n)) || n=$(wc -w <<<"$ps")
		# shellcheck disable=SC2086 # a list of pids
		kill -KILL $left 2>/dev/null || true
		sleep 0.1
	done
	# shellcheck disable=SC2086
	echo "cluster: $h: processes left after SIGKILL: $(describe $left)" >&2
	return 1
}

host_boot() { # HOST: start its init, unless it runs (0) or something of an earlier instance does (1)
	local h=$1 H=$C/hosts/$1 ps
	[[ -z $(init_pid "$h") ]] || return 0
	ps=$(host_procs "$h")
	# shellcheck disable=SC2086 # a list of pids
	[[ -z $ps ]] || die "$h: not booted: processes of an earlier instance are left: $(describe $ps)"
	rm -f "$H/init.pid"
	echo "$(date -u +%T.%N) boot" >>"$H/init.log"
	# nsenter, not ip netns exec, which mounts a new /sys and so hides the cgroup hierarchies the
	# jailer puts workers in; unshare --kill-child: the init dies with its parent too; setsid: no
	# terminal signal reaches it. (A killed init makes unshare say "sigprocmask unblock failed:
	# Invalid argument": it cannot re-raise SIGKILL on itself; harmless.)
	PETREL_CLUSTER_HOST=$H setsid nsenter --net="/run/netns/pcl$h" unshare --mount --uts --pid --fork \
		--kill-child --mount-proc "$SELF" _init "$h" </dev/null >>"$H/init.log" 2>&1 9>&- &
	local u=$! i p
	for ((i = 0; i < 100; i++)); do
		p=$(awk '{print $1}' "/proc/$u/task/$u/children" 2>/dev/null || true)
		[[ -n $p ]] && break
		sleep 0.05
	done
	[[ -n $p ]] || die "$h: its init did not start (see $H/init.log)"
	echo "$p" >"$H/init.pid"
	power_log "boot $h $p"
}

# --- a reboot's boot, pending in the background ---------------------------------------------------
# At most one per host, in $H/boot.pending (its pid): a reboot or off replaces or cancels it. A
# reboot answers once the host is dead and boots it when the others' Corosync has seen it leave,
# and BOOT_DELAY s after that, as a real machine's power cycle and firmware outlast failure
# detection: a host back sooner rejoined before Pacemaker had completed its fencing (which waits
# for the membership to drop it), was told it had been fenced, and shut its cluster stack down for
# good. A fixed 5 s was not enough: with the default token the others took 8 s to drop a killed host.
cancel_boot() { # HOST
	local f=$C/hosts/$1/boot.pending p
	p=$(cat "$f" 2>/dev/null) || return 0
	rm -f "$f"
	[[ $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) == *"_boot_later $1 "* ]] && { kill "$p" 2>/dev/null || true; }
	power_log "cancel $1 boot"
}

arm_boot() { # HOST: its one pending boot
	cancel_boot "$1"
	# a program of its own, not a subshell, which would inherit the fence daemon's copy of the
	# answer's pipe (bash's saved fds are closed only at an exec): the answer waited for the boot
	"$SELF" _boot_later "$1" </dev/null >>"$C/fenced.log" 2>&1 9>&- &
	echo $! >"$C/hosts/$1/boot.pending"
	power_log "pending $1 boot"
}

boot_later() { # HOST (`_boot_later`, in the background)
	local me=$$
	wait_left "$1"
	sleep "$BOOT_DELAY"
	locked "$1" boot_if_pending "$1" "$me"
}

boot_if_pending() { # HOST PID: boot HOST if PID's boot is still the pending one
	[[ $(cat "$C/hosts/$1/boot.pending" 2>/dev/null) == "$2" ]] || return 0
	rm -f "$C/hosts/$1/boot.pending"
	host_boot "$1"
}

power_off() { cancel_boot "$1" && host_kill "$1"; }
power_on() { cancel_boot "$1" && host_boot "$1"; }
# a reboot that comes while a boot is pending kills whatever runs and leaves one pending boot
power_cycle() { cancel_boot "$1" && host_kill "$1" && arm_boot "$1"; }

# Whether a live host other than HOST still has HOST in its Corosync membership
in_ring() {
	local h=$1 o
	for o in $(hosts); do
		[[ $o != "$h" && -n $(init_pid "$o") ]] || continue
		[[ $(in_host "$o" corosync-cmapctl -g "runtime.members.${h#h}.status" 2>/dev/null) == *joined* ]] && return 0
	done
	return 1
}

wait_left() { # HOST: until no other host counts it a member (at most WAIT s, polled each second)
	local i
	for ((i = 0; i < WAIT; i++)); do
		in_ring "$1" || return 0
		sleep 1
	done
}

# --- the fence daemon: out-of-band power control of the hosts --------------------------------------
# A request is a file NAME.req holding "ACTION HOST"; the answer is NAME.ans holding an exit status
# (RHCS fence agent conventions: status answers 0 on, 2 off). off and reboot answer 0 only once
# every process of the host is gone.
fence_one() {
	local action=$1 h=$2 fn
	[[ $action == monitor ]] && { echo 0; return; }
	[[ -n $h && -d $C/hosts/$h ]] || { echo 1; return; }
	case $action in
	off) fn=power_off ;;
	on) fn=power_on ;;
	reboot) fn=power_cycle ;;
	status) [[ -n $(init_pid "$h") ]] && echo 0 || echo 2; return ;;
	*) echo 1; return ;;
	esac
	locked "$h" "$fn" "$h" >&2 && echo 0 || echo 1
}

fenced() {
	local f action h rc t
	echo $BASHPID >"$C/fenced.pid"
	while :; do
		for f in "$C"/fence/*.req; do
			[[ -e $f ]] || continue
			read -r action h <"$f" || true
			t=$(date -u +%T.%N)
			rc=$(fence_one "$action" "$h")
			# when the request came, what, the answer, when it was done
			echo "$t $action $h -> $rc $(date -u +%T.%N)" >>"$C/fence.log"
			echo "$rc" >"${f%.req}.tmp" && mv "${f%.req}.tmp" "${f%.req}.ans"
			rm -f "$f"
		done
		sleep 0.1
	done
}
