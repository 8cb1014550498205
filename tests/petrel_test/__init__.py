# SPDX-License-Identifier: Apache-2.0
"""petrel's shared Python test framework.

Importing this package makes the helper modules of the test folders importable by their
names, from any test folder and from scripts, instead of each file putting another folder on
sys.path itself:

    apilib                 tests/api     a petrel process serving the API, its client, the spec
    guestlib, cpuidlib     tests/guests  the test guests: build paths, running one, its console
    nethelp                tests/virtio  taps, frames, network namespaces
    jaillib                tests/jail    the jailer
    test_overlay, ...      tests/block   (benches reuse its snapshot templates)
    mgrlib, tlslib         tests/manager petreld and its TLS certificates (the web page's tests)

pytest imports it before any test module (tests/conftest.py). A script outside pytest (a
bench, a soak run) puts tests/ on its path once and imports it:

    sys.path.insert(0, str(ROOT / "tests"))
    import petrel_test  # noqa: F401,E402

The folders are appended, so a test folder's own modules (which pytest puts first) win.
"""
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
FOLDERS = ("api", "guests", "virtio", "jail", "block", "manager")

for _d in FOLDERS:
    _p = str(TESTS / _d)
    if _p not in sys.path:
        sys.path.append(_p)


def process_ended(pid):
    """Whether process pid has ended: no such process, or a zombie that nobody has reaped yet
    (a process re-parented to an init that does not reap, such as a re-adopted worker's)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")
