#!/usr/bin/env bash
# The real-Linux tests that each boot the guest again for one feature (tests/linux/conftest.py
# EXTRA_BOOTS: MMDS through busybox, the bzImage's 64-bit entries, the generic kernel's e1000
# driver: scripts/fetch-guest-generic.sh first). Minutes per boot on a host
# whose guest ring 0 is emulated: run them alone, never beside other boots or fuzzers.
# Usage: scripts/linux-extra.sh [pytest args...]
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PETREL_LINUX_EXTRA=1 exec /usr/bin/python3 -m pytest -v -rfEs \
	tests/linux/test_linux_pmem.py \
	tests/linux/test_linux_mmds.py tests/linux/test_linux_bzimage_entry.py tests/linux/test_linux_vmem.py \
	tests/linux/test_linux_hotplug_vcpu.py tests/linux/test_linux_e1000.py tests/linux/test_linux_virtiofs.py "$@"
