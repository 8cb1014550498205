#!/usr/bin/env bash
# Boot the real Linux guest N times in a row (1 and 2 vCPUs, bzImage and PVH, the project's
# kernel command line and a plain one) and print a table of outcomes and times.
# Usage: scripts/soak-linux.sh N [--first K]     (after scripts/setup.sh)
# Each boot can take 5-20 minutes on a nested (PVM) host: run it on a quiet machine, alone.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -ge 1 ]] || { echo "usage: $0 N [--first K]" >&2; exit 2; }
exec /usr/bin/python3 "$ROOT/tests/linux/soak.py" "$@"
