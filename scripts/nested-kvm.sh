#!/usr/bin/env bash
# Run a command on a machine that has no /dev/kvm, inside a VM that has one.
#
# Some development machines (containers, PVM guests that do not bind kvm-pvm) offer no /dev/kvm,
# and then every guest test skips. This script boots a Debian kernel in QEMU's TCG emulator with
# an emulated AMD CPU that has SVM and nested paging; that kernel loads kvm_amd, so /dev/kvm
# exists inside, and the command runs there in a chroot of this machine's own root filesystem
# (shared over 9p, read-write: builds and logs land in the same tree). petrel's guests then run
# under real KVM (nested on emulated SVM): much slower than hardware, faster than a PVM host's
# emulated ring 0, and it exercises every KVM path except PVM's own quirks.
#
# Usage: scripts/nested-kvm.sh 'COMMAND'        e.g. scripts/nested-kvm.sh 'cd /work/main &&
#            PETREL_SKIP_SETUP=1 python3 -m pytest tests/guests'
# Env:   PETREL_L1_DIR  where the kernel and initramfs are kept (default /var/tmp/petrel-l1)
#        PETREL_L1_CPUS, PETREL_L1_MEM   the VM's size (default 1 CPU, 8G: see README for why 1)
#        PETREL_L1_CPU  QEMU -cpu model of the VM (default max: every feature TCG emulates)
#        PETREL_L1_TIMEOUT  seconds before the VM is stopped (default 3600)
# The command runs with PETREL_HOST_KIND=nested-kvm (the suite's junit reports say so).
# The command's output goes to stdout and to $PETREL_L1_DIR/job.log; the VM's console to
# $PETREL_L1_DIR/console.log; the exit status is the command's. While it runs, QEMU's monitor
# listens on $PETREL_L1_DIR/monitor.sock (e.g. `info registers -a` for a hang).
# Inside, /tmp, /run and /dev/shm are the VM's own (tmpfs): put files the command needs elsewhere.
# Needs root (9p passthrough, apt). Packages: qemu-system-x86, kmod, busybox-static (Debian's).
set -euo pipefail

[[ $# == 1 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2; }
[[ $(id -u) == 0 ]] || { echo "nested-kvm: run as root" >&2; exit 2; }
DIR=${PETREL_L1_DIR:-/var/tmp/petrel-l1}
mkdir -p "$DIR"
log() { echo "nested-kvm: $*" >&2; }

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v depmod >/dev/null || [[ -x /usr/sbin/depmod ]] || need+=(kmod)
[[ -x /bin/busybox ]] || need+=(busybox-static)
if ((${#need[@]})); then
	log "installing ${need[*]}"
	apt-get update -q && apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# --- the L1 kernel: Debian's generic one (it has kvm_amd, 9p, virtio as modules) ---------------
if [[ ! -f $DIR/kernel-version ]]; then
	pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[[ -n $pkg ]] || { log "apt knows no linux-image-amd64 (apt-get update?)"; exit 1; }
	log "fetching $pkg"
	(cd "$DIR" && rm -rf root ./*.deb && apt-get download "$pkg" && dpkg-deb -x ./*.deb root && rm ./*.deb)
	ver=${pkg#linux-image-}
	/usr/sbin/depmod -b "$DIR/root" "$ver"
	echo "$ver" >"$DIR/kernel-version"
	rm -f "$DIR/initrd.gz"
fi
VER=$(cat "$DIR/kernel-version")
MODS=$DIR/root/lib/modules/$VER

# --- QEMU's TCG modules, one of them mended for a nested guest that writes CR8 -----------------
# QEMU's SVM emulation (7.2 as Debian ships it, and later) handles a MOV to CR8 by the nested guest
# (L2), when its hypervisor (L1's KVM) has asked for an interrupt window (V_IRQ), by calling
# cpu_interrupt() on the vCPU's own thread without the big QEMU lock, and tcg_handle_interrupt()
# asserts that lock: QEMU aborts ("tcg_handle_interrupt: assertion failed:
# (qemu_mutex_iothread_locked())"). OVMF restores CR8 on every interrupt return (EDK2's exception
# entry saves and restores it), so an OVMF guest under nested KVM killed the L1 within minutes.
# The assertion is the only harm: what follows it sets the vCPU's own interrupt request, as QEMU's
# VMRUN does without the lock. So QEMU runs with a copy of its module directory in which that one
# conditional jump of tcg_handle_interrupt always skips the assertion (QEMU_MODULE_DIR); when the
# bytes are not the expected ones (another QEMU build) QEMU runs unmended and says nothing else.
QEMU_MODS=/usr/lib/x86_64-linux-gnu/qemu
if [[ ! -f $DIR/qemu-modules/.mended || $QEMU_MODS/accel-tcg-x86_64.so -nt $DIR/qemu-modules/.mended ]]; then
	rm -rf "$DIR/qemu-modules" && mkdir -p "$DIR/qemu-modules" && cp -a "$QEMU_MODS"/. "$DIR/qemu-modules/"
	addr=$(nm -D --defined-only "$QEMU_MODS/accel-tcg-x86_64.so" | awk '$3 == "tcg_handle_interrupt" {print $1}')
	if python3 - "$DIR/qemu-modules/accel-tcg-x86_64.so" "${addr:-0}" <<-'PY'; then
	import sys
	path, addr = sys.argv[1], int(sys.argv[2], 16)
	data = bytearray(open(path, "rb").read())
	# test %al,%al; jne +d; lea ...(%rip),%r8: the assertion's test (text's addresses are file offsets)
	hits = [i for i in range(addr, addr + 64) if data[i:i + 3] == b"\x84\xc0\x75" and data[i + 4:i + 7] == b"\x4c\x8d\x05"]
	if not addr or len(hits) != 1:
	    sys.exit(1)
	data[hits[0] + 2] = 0xEB   # jne -> jmp
	open(path, "wb").write(data)
	PY
		touch "$DIR/qemu-modules/.mended"
		log "QEMU's accel-tcg module mended (the CR8 assertion; see the script)"
	else
		log "QEMU's accel-tcg module is not the expected build: running it unmended (OVMF guests may abort QEMU)"
		touch "$DIR/qemu-modules/.mended"
	fi
fi
export QEMU_MODULE_DIR=$DIR/qemu-modules

# --- the initramfs: busybox, the modules to reach 9p, and an init that chroots into the host --
if [[ ! -f $DIR/initrd.gz ]]; then
	log "making the initramfs"
	t=$(mktemp -d)
	mkdir -p "$t"/{bin,m,proc,sys,dev,newroot}
	cp /bin/busybox "$t/bin/"
	for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
		9pnet 9pnet_virtio netfs fscache 9p; do
		cp "$(find "$MODS/kernel" -name "$m.ko" | head -1)" "$t/m/"
	done
	cat >"$t/init" <<-'EOF'
	#!/bin/busybox sh
	/bin/busybox --install -s /bin
	mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
	# modules in dependency order; a second pass catches any the first found out of order
	for pass in 1 2; do
		for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
			9pnet 9pnet_virtio netfs fscache 9p; do
			grep -q "^$m " /proc/modules || insmod /m/$m.ko 2>/dev/null
		done
	done
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,access=any hostroot /newroot ||
		{ echo "nested-kvm: 9p mount failed"; poweroff -f; }
	R=/newroot
	mount -t proc proc $R/proc; mount -t sysfs sys $R/sys; mount -t devtmpfs dev $R/dev
	mkdir -p $R/dev/pts $R/dev/shm; mount -t devpts devpts $R/dev/pts; mount -t tmpfs shm $R/dev/shm
	mount -t tmpfs -o size=50% tmp $R/tmp; mount -t tmpfs run $R/run
	# cgroups laid out as on the PVM hosts: v1 controllers, an empty v2 hierarchy at unified/
	mount -t tmpfs cg $R/sys/fs/cgroup
	for c in memory cpu,cpuacct cpuset pids; do
		d=$R/sys/fs/cgroup/${c%%,*}; mkdir -p $d; mount -t cgroup -o $c cgroup $d
	done
	mkdir -p $R/sys/fs/cgroup/unified; mount -t cgroup2 none $R/sys/fs/cgroup/unified
	hostname nested-kvm
	chroot $R /bin/bash "$(sed -n 's/.*petrel_l1_dir=\([^ ]*\).*/\1/p' /proc/cmdline)/job-wrapper.sh"
	poweroff -f
	EOF
	chmod +x "$t/init"
	(cd "$t" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$DIR/initrd.gz")
	rm -rf "$t"
fi

# --- the job ------------------------------------------------------------------------------------
printf '%s\n' "$1" >"$DIR/job.sh"
cat >"$DIR/job-wrapper.sh" <<EOF
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
# the tests' junit reports say which kind of host their passes were on (tests/kvm-record.json)
export PETREL_HOST_KIND=nested-kvm
# HOME is on 9p, where a shared mmap fails: runtime files (chromium's dconf shm) go to the VM's tmpfs
export XDG_RUNTIME_DIR=/run/user/0
mkdir -p -m 0700 /run/user/0
for m in kvm_amd tun veth bridge; do modprobe -d "$DIR/root" \$m || echo "nested-kvm: no module \$m"; done
ip link set lo up
cd "$PWD"
bash "$DIR/job.sh" >"$DIR/job.log" 2>&1
echo \$? >"$DIR/job.rc"
sync
EOF
rm -f "$DIR/job.rc" "$DIR/job.log"
: >"$DIR/job.log"
tail -n +1 -f "$DIR/job.log" &
tailer=$!
trap 'kill $tailer 2>/dev/null' EXIT
log "booting the L1 VM (kernel $VER)"
timeout "${PETREL_L1_TIMEOUT:-3600}" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu "${PETREL_L1_CPU:-max}" \
	-smp "${PETREL_L1_CPUS:-1}" -m "${PETREL_L1_MEM:-8G}" \
	-kernel "$DIR/root/boot/vmlinuz-$VER" -initrd "$DIR/initrd.gz" \
	-append "console=ttyS0 panic=-1 mitigations=off petrel_l1_dir=$DIR" \
	-nographic -no-reboot -monitor "unix:$DIR/monitor.sock,server,nowait" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap \
	>"$DIR/console.log" 2>&1 </dev/null || true
sleep 0.5
[[ -f $DIR/job.rc ]] || { log "the VM stopped before the command ended (see $DIR/console.log)"; exit 1; }
exit "$(cat "$DIR/job.rc")"
