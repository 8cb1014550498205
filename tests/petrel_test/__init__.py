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
    fwlib                  tests/firmware disk images (scripts/mkimage.sh), QEMU+SeaBIOS, timed boots
    guardlib               tests/net     a bridge, a tap and a peer namespace for the tap guards
    netlib                 tests/net     petreld's host networks: namespaces, guests with udhcpc
    rfblib                 tests/vnc     a small RFB (VNC) client

pytest imports it before any test module (tests/conftest.py). A script outside pytest (a
bench, a soak run) puts tests/ on its path once and imports it:

    sys.path.insert(0, str(ROOT / "tests"))
    import petrel_test  # noqa: F401,E402

The folders are appended, so a test folder's own modules (which pytest puts first) win.

A test that needs KVM says so through one door, so that the suite knows every such test even
where it skips (tests/kvm-record.json, docs/development.md#tests-that-need-kvm): it calls
require_kvm() where it would look at /dev/kvm, or carries @pytest.mark.needs_kvm (a module's
pytestmark) when it must be known before any fixture runs (collection-time skips).
"""
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
FOLDERS = ("api", "guests", "virtio", "jail", "block", "manager", "firmware", "net", "vnc")

for _d in FOLDERS:
    _p = str(TESTS / _d)
    if _p not in sys.path:
        sys.path.append(_p)


class _RecheckingPollSelector(selectors.PollSelector):
    """subprocess's selector (communicate(), run() with capture_output), never blocking more
    than a second at a time. On the PVM hosts a poll() on a child's output pipe has missed the
    pipe's end: the child had exited (a zombie), yet the run waited 999 s in poll(), until a
    debugger attached to it interrupted the call, which then found the end at once
    (2026-11-28, test_manager_cloudinit.py; two petrelctl calls before it, mgrlib.Petreld.ctl).
    Looking again every second turns such a missed wakeup into a second's delay; communicate()
    takes an empty answer as "nothing yet" and asks again."""

    def select(self, timeout=None):
        return super().select(1.0 if timeout is None or timeout > 1.0 else timeout)


subprocess._PopenSelector = _RecheckingPollSelector


class _UnreapedChildWatch(threading.Thread):
    """Wakes this process's threads (a signal with a handler that does nothing: each blocking
    call returns EINTR and Python makes it again, looking afresh) while a child of ours has been a
    zombie for KICK_AFTER seconds, and says so once per child on the real stderr. The selector
    above was not enough: a later fresh-clone suite on a PVM host sat 14 minutes in the same test
    with mtype a zombie and pytest asleep in poll() with its one-second timeout long past, so the
    thread was never woken at all, not even by its timer, until strace attached to it
    (2026-11-28 14:00). A zombie is what each such hang left; one that a test leaves unreaped on
    purpose (a killed Popen not waited for) only costs a harmless wake-up every few seconds."""

    KICK_AFTER = 5.0
    LOOK_EVERY = 2.0
    SIGNAL = signal.SIGWINCH   # ignored by default; nothing in the tests uses it

    def __init__(self):
        super().__init__(name="petrel_test-unreaped-child-watch", daemon=True)
        self.pid = os.getpid()
        self.since = {}
        self.said = set()

    def zombies(self):
        out = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    head, tail = f.read().rsplit(")", 1)
            except (OSError, ValueError):
                continue
            fields = tail.split()
            if fields[0] == "Z" and int(fields[1]) == self.pid:
                out[int(d)] = head.split("(", 1)[-1]
        return out

    def run(self):
        while os.getpid() == self.pid:
            time.sleep(self.LOOK_EVERY)
            now = time.monotonic()
            found = self.zombies()
            self.since = {pid: self.since.get(pid, now) for pid in found}
            stale = [pid for pid, t in self.since.items() if now - t >= self.KICK_AFTER]
            if not stale:
                continue
            for pid in stale:
                if pid not in self.said:
                    self.said.add(pid)
                    print(f"petrel_test: child {pid} ({found[pid]}) has been a zombie for "
                          f"{now - self.since[pid]:.0f} s: waking this process's threads", file=sys.__stderr__)
            for t in threading.enumerate():
                if t is not self and t.ident:
                    try:
                        signal.pthread_kill(t.ident, self.SIGNAL)
                    except (OSError, ProcessLookupError):
                        pass


if threading.current_thread() is threading.main_thread():
    signal.signal(_UnreapedChildWatch.SIGNAL, lambda signum, frame: None)
    _UnreapedChildWatch().start()


def process_ended(pid):
    """Whether process pid has ended: no such process, or a zombie that nobody has reaped yet
    (a process re-parented to an init that does not reap, such as a re-adopted worker's)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


NO_KVM = "no access to /dev/kvm"
KVM_TESTS = set()   # node ids of this session's tests that need KVM (tests/conftest.py reads it)
KVM_PASSED = set()  # those of them that passed (tests/conftest.py)
_kvm_usable = None


def kvm_usable():
    """Whether /dev/kvm opens read-write here (asked once per process)."""
    global _kvm_usable
    if _kvm_usable is None:
        try:
            os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
            _kvm_usable = True
        except OSError:
            _kvm_usable = False
    return _kvm_usable


def require_kvm():
    """Record the running test as one that needs KVM and skip it without a usable /dev/kvm.
    The test is the one pytest names in PYTEST_CURRENT_TEST ("NODEID (setup|call|teardown)")."""
    import pytest
    current = os.environ.get("PYTEST_CURRENT_TEST")
    if current:
        KVM_TESTS.add(current.rsplit(" (", 1)[0])
    if not kvm_usable():
        pytest.skip(NO_KVM)


def test_id(item):
    """A test's id relative to the repository (tests/DIR/FILE.py::NAME[PARAMS]), whatever
    pytest's rootdir was: the key of tests/kvm-record.json."""
    path = item.path.resolve()
    rest = item.nodeid.partition("::")[2]
    return f"{path.relative_to(ROOT).as_posix()}::{rest}" if ROOT in path.parents else item.nodeid
