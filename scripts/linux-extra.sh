#!/usr/bin/env bash
# The real-Linux tests that each boot the guest again for one feature (tests/linux/conftest.py
# EXTRA_BOOTS: MMDS through busybox, the bzImage's 64-bit entries, the generic kernel's e1000
# and bochs DRM drivers: scripts/fetch-guest-generic.sh first), the quick modes of the benches that boot it, and the
# installed Debian disk of scripts/mkimage.sh (through SeaBIOS and, where OVMF starts, through OVMF; built from Debian's archive once, then cached), up to
# GRUB under QEMU. Minutes per boot on a host
# whose guest ring 0 is emulated: run them alone, never beside other boots or fuzzers.
# Usage: scripts/linux-extra.sh [pytest args...]
# Its junit report, build/linux-extra-report.xml, is what scripts/kvm-record.py update records.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PETREL_LINUX_EXTRA=1 exec /usr/bin/python3 -m pytest -v -rfEs --junitxml=build/linux-extra-report.xml \
	tests/linux/test_linux_pmem.py \
	tests/linux/test_linux_mmds.py tests/linux/test_linux_bzimage_entry.py tests/linux/test_linux_vmem.py \
	tests/linux/test_linux_hotplug_vcpu.py tests/linux/test_linux_e1000.py tests/linux/test_linux_display.py \
	tests/linux/test_linux_virtiofs.py \
	tests/linux/test_linux_firmware.py tests/linux/test_linux_uefi.py \
	"tests/bench/test_bench_quick.py::test_python_bench_quick[startup_boot.py]" \
	"tests/bench/test_bench_quick.py::test_python_bench_quick[virtiofs.py]" \
	tests/firmware/test_images.py::test_debian_image_reaches_grub "$@"
