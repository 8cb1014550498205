#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for petrel, as root (e.g. `sudo scripts/setup.sh`):
#   1. install the Debian packages petrel needs to build, test and fetch its guest,
#   2. configure and build petrel into build/ (build/petrel),
#   3. fetch the default guest into guest/ (scripts/fetch-guest.sh).
# Safe to run again: each step skips work already done, so a second run takes seconds.
# When run through sudo, the build and the guest are made as the invoking user.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive

# Every package the project needs, with why.
PACKAGES=(
	build-essential   # gcc, make, libc headers, binutils (readelf/objcopy for the test guests)
	gcc               # the C compiler (C11/gnu11)
	clang             # second compiler: sanitizer builds, freestanding test guests, warnings
	libclang-rt-14-dev # clang's libFuzzer and sanitizer runtimes (tests/fuzz, -Dfuzz=true): only recommended by clang
	lld               # links petrel with its start-up functions together (src/startup.order; docs/performance.md)
	lld-16            # ... and packs its relative relocations (DT_RELR: Debian 12's lld 14 cannot for glibc), 40 KiB less read at every start
	meson             # the build system
	ninja-build       # the build backend meson drives
	pkg-config        # how meson finds the libraries below
	libjansson-dev    # JSON: VM config files and the REST API bodies
	liburing-dev      # io_uring for the block backends
	libseccomp-dev    # seccomp filters for the VMM's threads (isolation)
	zlib1g-dev        # CRC-32 of VM state files (snapshot, migration): zlib's crc32()
	libdeflate-dev    # the E1000's receive CRC: a PCLMULQDQ CRC-32, 4x zlib's (loaded with dlopen; docs/e1000.md#receive-crc)
	libext2fs-dev     # a boot from the disk reads its ext2/3/4 /boot with e2fsprogs' library (loaded with dlopen; docs/images.md)
	liblz4-dev        # bzImage payloads petrel decompresses on the host (LZ4: the Debian cloud kernel's)
	libzstd-dev       # ... zstd payloads (zlib above does gzip ones)
	liblzma-dev       # ... xz and legacy lzma payloads
	libbz2-dev        # ... bzip2 payloads
	liblzo2-dev       # ... LZO payloads (lzop's format)
	zstd              # the decompression tests/benchmark compress synthetic and real kernels with it
	xz-utils          # ... with xz and lzma
	bzip2             # ... with bzip2
	lzop              # ... with lzop
	libhttp-parser-dev # HTTP/1.1 request parser of the Firecracker-compatible API (loaded with dlopen when an API is served)
	libgnutls28-dev   # TLS of petreld's TCP listener and of migration/replication streams (src/util/tls.c; loaded with dlopen on first use)
	gnutls-bin        # certtool: scripts/pki.sh makes the CA and host certificates (docs/security.md#pki)
	nettle-dev        # HMAC-SHA256 and base64 for MMDS V2 session tokens (loaded with dlopen by the first MMDS store)
	busybox-static    # user space of the default guest's initramfs (scripts/mkinitramfs.sh)
	qemu-system-common # /usr/lib/qemu/virtiofsd: the vhost-user back end the front end (src/vhost) is tested against
	qemu-utils        # qemu-img/qemu-io: make qcow2 images in tests and check what petrel wrote (the oracle)
	libvirt-daemon-system # bench/manager.py: libvirtd with its QEMU driver, the peer figure beside petreld (virsh: libvirt-clients)
	libvirt-clients   # ... virsh
	virtinst          # virt-install --import --cloud-init: the peer of petreld's VMs made from an image in bench/from_image.py (libvirt's way of issue 55)
	qemu-system-x86   # QEMU's e1000, virtio-blk and virtio-net as the peers of bench/e1000.py and bench/run.py blk/net (and scripts/nested-kvm.sh's L1 VM)
	fio               # bench/blk_host.py: fio's io_uring engine on the same file, a peer figure beside petrel's
	linux-perf        # bench/e1000.py and run.py net: exits per frame from KVM's tracepoints where its debugfs has no per-VM figures (a PVM host)
	cpio              # packs the initramfs (newc format)
	gzip              # unpacks gzip-compressed kernel payloads and modules (fetch-guest.sh)
	lz4               # unpacks the cloud kernel's LZ4 payload into guest/vmlinux (PVH boot)
	python3           # test runner language
	python3-pytest    # the Linux-guest and integration tests (tests/linux, tests/integration)
	python3-yaml      # reads the Firecracker API spec (YAML) in the API tests
	iproute2          # ip/tap/netns setup for the network tests
	socat             # talks to the API and vsock Unix sockets from scripts and tests
	curl              # REST API calls over the Unix socket (curl --unix-socket)
	e2fsprogs         # mkfs.ext4/debugfs: the ext4 disk image of the Linux virtio-blk test; mkfs.ext2 -d: mkimage.sh's file systems
	acpica-tools      # iasl: the unit tests disassemble petrel's DSDT to prove its AML well-formed
	dmidecode         # tests/unit/test_smbios.c: dmidecode --from-dump reads petrel's SMBIOS tables back (the oracle)
	libwslay-dev      # petreld's web page: the WebSocket framing of the serial console in the browser (src/manager/web/web_ws.c)
	libvncserver-dev  # the VNC server of a VM with a display (RFB 3.8; src/ui, loaded with dlopen: docs/display.md)
	libpng-dev        # petreld's GET /vms/NAME/screenshot: the screen as a PNG (src/manager/web/web_vnc.c)
	libcrypt-dev      # petreld's web page: yescrypt password hashes of its users (crypt(3), src/manager/web/web_users.c)
	chromium          # tests/web: the page end to end in headless Chromium (playwright-core drives /usr/bin/chromium)
	corosync          # cluster membership and quorum for petrel VMs on several hosts (docs/cluster.md, tests/cluster)
	pacemaker         # the cluster resource manager that runs ocf/petrel-vm and fences hosts (docs/cluster.md)
	pacemaker-cli-utils # crm_mon, crm_resource, cibadmin, stonith_admin: tests/cluster (its harness/cluster.sh) drives the cluster with them
	resource-agents   # ocf-shellfuncs the petrel-vm agent sources; ocf-tester the tests run on it
	jq                # the petrel-vm agent reads petrelctl's JSON answers and the definition's name with it
	libxml2-utils     # xmllint: tests/cluster checks the agents' meta-data against the OCF DTD
	seabios           # /usr/share/seabios/bios-256k.bin: the firmware of --firmware seabios, and QEMU's in tests/firmware (the oracle); vgabios-stdvga.bin: stdvga's VGA BIOS
	ovmf              # /usr/share/OVMF/OVMF_CODE_4M.fd and OVMF_VARS_4M.fd: the firmware of --firmware ovmf (UEFI), and QEMU's in tests/firmware
	grub-pc-bin       # GRUB for BIOS (i386-pc boot.img, core.img's modules): scripts/mkimage.sh's bootable disks
	grub-efi-amd64-bin # GRUB for UEFI (x86_64-efi modules): mkimage.sh grub-efi-disk, debian --efi, the hybrid ISO's EFI image
	grub-common       # grub-mkimage, grub-mkrescue, grub-fstest: mkimage.sh builds GRUB's images, tests/firmware reads them back
	xorriso           # grub-mkrescue writes the hybrid ISO with it (mkimage.sh grub-iso)
	mtools            # mformat/mcopy: FAT images without mounts (grub-mkrescue's, mkimage.sh's EFI system partitions, petreld's cloud-init seeds: docs/manager.md#cloud-init)
	dosfstools        # fsck.vfat: an administrator checks a FAT image (a cloud-init seed, an EFI system partition) without mounting it
	mmdebstrap        # mkimage.sh debian and debian-cloud: the installed Debian 12 disk, the cloud template, from Debian's archive, without mounts
	fdisk             # sfdisk: the MBR and GPT partition tables of mkimage.sh's disks, written on the image file
	libnftables-dev   # petreld's networks (src/manager/net): NAT, isolation and the guards on VMs' taps as nftables rulesets (libnftables)
	nftables          # nft: the tests and an administrator read petreld's rulesets and counters with it
	dnsmasq-base      # DHCP and DNS of petreld's NAT and isolated networks, one dnsmasq per network (not the dnsmasq package: it starts a system-wide service on port 53)
	udhcpc            # tests/net: a DHCP client in a network namespace playing a guest (busybox's)
	libvirt-daemon-system # bench/net_guards_vm.py's peer: libvirt's default NAT network and clean-traffic nwfilter on QEMU domains (libvirtd started by the bench in a namespace: no service needed)
	libvirt-clients   # ... virsh, which the bench drives libvirtd with
	strace            # bench/serial.py and bench/virtio_net_host.py count system calls (per console byte, per frame) with strace
)

log() { echo "setup: $*"; }
die() { echo "setup: $*" >&2; exit 1; }

# Root installs packages; a sudo user gets there through sudo (the build and the guest files
# stay theirs, see as_user). A root shell without sudo (a container) runs as it is.
if [[ $(id -u) != 0 ]]; then
	command -v sudo >/dev/null || die "run as root: it installs packages with apt-get (and sudo is not installed)"
	exec sudo -- "$0" "$@"
fi
command -v apt-get >/dev/null || die "apt-get not found: petrel's setup expects Debian 12"

# Run a command as the user who invoked sudo (so build/ and guest/ are theirs), else as root.
as_user() {
	if [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]]; then
		sudo -u "$SUDO_USER" -H -- "$@"
	else
		"$@"
	fi
}

# --- 1. packages ------------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
	if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) != installed ]]; then
		missing+=("$p")
	fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
	log "installing: ${missing[*]}"
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	log "all ${#PACKAGES[@]} packages already installed"
fi
# npm (petreld's web page: installs web/'s packages from the npm registry, web/package-lock.json,
# and builds it) comes with Debian's nodejs as the package npm; a machine whose nodejs already
# brings npm (NodeSource's, which conflicts with Debian's npm package) keeps its own.
if ! command -v npm >/dev/null; then
	log "installing: nodejs npm"
	apt-get update -q
	apt-get install -y -q --no-install-recommends nodejs npm
fi
# fetch-guest.sh resolves the kernel through apt's package lists: make sure there are some.
if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
	log "apt has no package lists yet; updating"
	apt-get update -q
fi

# --- 2a. the web page (web/) -------------------------------------------------------------------
# Its npm packages from the lock file, then built into web/dist (petreld --web-dir web/dist, or
# `meson install`'s <datadir>/petrel/web: built before meson configures, which looks for it).
# Nothing is fetched at run time: the build bundles xterm.js and uPlot into web/dist/assets.
if [[ ! -f $ROOT/web/node_modules/.package-lock.json || $ROOT/web/package-lock.json -nt $ROOT/web/node_modules/.package-lock.json ]]; then
	log "installing the web page's npm packages (npm ci)"
	(cd "$ROOT/web" && as_user npm ci --no-audit --no-fund)
fi
log "building the web page"
(cd "$ROOT/web" && as_user npm run build)

# --- 2. build ---------------------------------------------------------------------------------
cd "$ROOT"
if [[ -f build/meson-private/coredata.dat && -f build/build.ninja ]]; then
	# Configured before: ninja re-runs meson itself whenever a meson.build changed.
	log "build/ already configured"
elif [[ -f build/meson-private/coredata.dat ]]; then
	log "build/ half configured; reconfiguring"
	as_user meson setup --reconfigure build
else
	log "configuring build/"
	as_user meson setup build
fi
log "building"
as_user ninja -C build

# --- 3. guest ---------------------------------------------------------------------------------
as_user "$ROOT/scripts/fetch-guest.sh"

log "done: build/petrel is built and the default guest is in guest/ (boot it: scripts/boot.sh)"
