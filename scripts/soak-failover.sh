#!/usr/bin/env bash
# Kill a replicated VM's primary at random moments, N rounds (ring-3 test guests, seconds
# each): the standby must take over every time with the guest's console count going on with
# no gap (a repeat only of the one epoch's output the primary died writing) and its memory intact. Prints a line per round and a summary.
# Usage: scripts/soak-failover.sh [N [INTERVAL_MS]]     (after scripts/setup.sh; as root)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec /usr/bin/python3 "$ROOT/tests/api/soak_failover.py" "$@"
