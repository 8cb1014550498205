# SPDX-License-Identifier: Apache-2.0
"""Lazy snapshot restore: Firecracker's Uffd backend (an external page-fault handler gets the
userfaultfd through its Unix socket) and petrel's own pager (backend_type "Lazy"). The guest's
memory arrives page by page after the load; the counting guest checks every byte of its 8 MiB
region on each line, so a page served wrong or twice shows."""
import re
import subprocess

import pytest

import apilib
from test_api_snapshot import assert_counts_go_on, snapshot

PETREL = apilib.petrel_bin()
ARGS = "every=4194304 fill_mib=8 rewrite=1"
GEN = r"^gen=(\d+) ok$"


def handler_bin():
    h = PETREL.parent / "tests" / "tools" / "uffd_handler"
    if not h.exists():
        pytest.skip(f"{h} not built")
    return h


def gens(p):
    return [int(n) for n in p.lines(GEN)]


def boot_and_snapshot(petrel, api, workdir, track=False):
    img = str(apilib.guest("counter"))
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": ARGS}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128,
                                       "track_dirty_pages": track}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    petrel.expect(r"^gen=2 ok\n")   # the whole line: gens() reads complete lines only
    return snapshot(api, workdir, "full")


def load(workdir, name, state, backend, path):
    d = workdir / name
    d.mkdir()
    p = apilib.Petrel(d)
    r = p.client().put("/snapshot/load", {"snapshot_path": str(state), "resume_vm": True,
                                          "mem_backend": {"backend_type": backend, "backend_path": str(path)}})
    return p, r


class Handler:
    """tests/tools/uffd_handler on a socket in workdir, serving mem."""

    def __init__(self, workdir, mem):
        self.sock = workdir / "uffd.sock"
        self.proc = subprocess.Popen([str(handler_bin()), str(self.sock), str(mem)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready", self.proc.stderr.read()

    def finish(self):
        """The handler's fault count once the VMM hung up."""
        out, err = self.proc.communicate(timeout=20)
        m = re.search(r"^faults (\d+)$", out, re.M)
        assert m, (out, err)
        return out, int(m.group(1))


def test_uffd_backend_serves_the_guest_through_an_external_handler(petrel, api, workdir):
    state, mem = boot_and_snapshot(petrel, api, workdir)
    last = max(gens(petrel))
    petrel.close()
    h = Handler(workdir, mem)
    try:
        p, r = load(workdir, "uffd", state, "Uffd", h.sock)
        try:
            assert r.status == 204, (r, p.describe())
            p.expect(rf"^gen={last + 2} ok$")
            assert_counts_go_on(petrel.out.text(), p.out.text(), GEN)
            assert "FAIL" not in p.out.text(), p.describe()
        finally:
            p.close()
        out, faults = h.finish()
        assert "regions 1" in out
        # The guest's 8 MiB region, its stack and page tables came through the handler (and
        # petrel's own reads of the rings and state, none here).
        assert faults >= (8 << 20) // 4096, out
    finally:
        h.proc.kill()


def test_lazy_backend_copies_everything_in_and_lets_go(petrel, api, workdir):
    state, mem = boot_and_snapshot(petrel, api, workdir)
    last = max(gens(petrel))
    petrel.close()
    p, r = load(workdir, "lazy", state, "Lazy", mem)
    try:
        assert r.status == 204, (r, p.describe())
        p.expect(rf"^gen={last + 2} ok$")
        assert_counts_go_on(petrel.out.text(), p.out.text(), GEN)
        # The pager fetched the rest in the background, then unregistered guest memory.
        m = p.expect(r"lazy restore: memory complete after [0-9.]+ ms \((\d+) faults, (\d+) pages prefetched\)",
                     stream="err")
        assert int(m.group(1)) + int(m.group(2)) > 0
        p.expect(rf"^gen={last + 4} ok$")
        assert "FAIL" not in p.out.text(), p.describe()
        # A snapshot of the lazily restored VM holds the same memory: restored again, the
        # guest's checks pass.
        assert p.client().patch("/vm", {"state": "Paused"}).status == 204
        again = p.client().put("/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(workdir / "again.state"),
                                                     "mem_file_path": str(workdir / "again.mem")})
        assert again.status == 204, again
        last = max(gens(p))
    finally:
        p.close()
    q, r = load(workdir, "again", workdir / "again.state", "File", workdir / "again.mem")
    try:
        assert r.status == 204, r
        q.expect(rf"^gen={last + 2} ok$")
        assert "FAIL" not in q.out.text(), q.describe()
    finally:
        q.close()


def test_snapshot_while_the_pager_is_still_copying(petrel, api, workdir):
    """A snapshot taken at once after a lazy load, paused before the guest ran, must read the
    pages not yet copied in from the memory file, not take their absence for zeros."""
    state, mem = boot_and_snapshot(petrel, api, workdir)
    last = max(gens(petrel))
    petrel.close()
    d = workdir / "paused"
    d.mkdir()
    p = apilib.Petrel(d)
    try:
        r = p.client().put("/snapshot/load", {"snapshot_path": str(state), "resume_vm": False,
                                              "mem_backend": {"backend_type": "Lazy", "backend_path": str(mem)}})
        assert r.status == 204, r
        r = p.client().put("/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(workdir / "b.state"),
                                                 "mem_file_path": str(workdir / "b.mem")})
        assert r.status == 204, r
    finally:
        p.close()
    q, r = load(workdir, "b", workdir / "b.state", "File", workdir / "b.mem")
    try:
        assert r.status == 204, r
        q.expect(rf"^gen={last + 2} ok$")
        assert "FAIL" not in q.out.text(), q.describe()
    finally:
        q.close()


def test_diff_chain_lazily_and_uffd_refuses_it(petrel, api, workdir):
    full = boot_and_snapshot(petrel, api, workdir, track=True)
    assert api.patch("/vm", {"state": "Resumed"}).status == 204
    petrel.expect(rf"^gen={max(gens(petrel)) + 2} ok$")
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    diff = workdir / "diff.state", workdir / "diff.mem"
    r = api.put("/snapshot/create", {"snapshot_type": "Diff", "snapshot_path": str(diff[0]),
                                     "mem_file_path": str(diff[1])})
    assert r.status == 204, r
    last = max(gens(petrel))
    petrel.close()
    h = Handler(workdir, full[1])
    try:
        p, r = load(workdir, "uffd", diff[0], "Uffd", h.sock)
        try:
            assert r.status == 400 and "merge" in r.fault, r
            # Nothing was lost: the same petrel loads it another way.
            r = p.client().put("/snapshot/load", {"snapshot_path": str(diff[0]), "resume_vm": True,
                                                  "mem_backend": {"backend_type": "Lazy", "backend_path": str(diff[1])}})
            assert r.status == 204, (r, p.describe())
            p.expect(rf"^gen={last + 2} ok$")
            assert_counts_go_on(petrel.out.text(), p.out.text(), GEN)
            assert "FAIL" not in p.out.text(), p.describe()
        finally:
            p.close()
    finally:
        h.proc.kill()


def test_unreachable_handler_is_a_clear_error(petrel, api, workdir):
    state, mem = boot_and_snapshot(petrel, api, workdir)
    petrel.close()
    p, r = load(workdir, "nohandler", state, "Uffd", workdir / "nobody.sock")
    try:
        assert r.status == 400 and "cannot reach the page-fault handler" in r.fault, r
        r = p.client().put("/snapshot/load", {"snapshot_path": str(state), "resume_vm": True,
                                              "mem_file_path": str(mem)})
        assert r.status == 204, (r, p.describe())
        p.expect(r"^gen=\d+ ok$")
    finally:
        p.close()


def test_cli_lazy_and_uffd(petrel, api, workdir):
    state, mem = boot_and_snapshot(petrel, api, workdir)
    last = max(gens(petrel))
    petrel.close()
    h = Handler(workdir, mem)
    try:
        for args in (["--mem-file", str(mem), "--lazy"], ["--uffd", str(h.sock)]):
            p = subprocess.Popen([str(PETREL), "run", "--restore", str(state), *args],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            try:
                out = apilib.read_until(p, f"gen={last + 2} ok".encode())
                assert b"FAIL" not in out
            finally:
                p.kill()
                p.wait()
        _, faults = h.finish()
        assert faults > 0
        r = subprocess.run([str(PETREL), "run", "--restore", str(state), "--uffd", "x", "--lazy"],
                           capture_output=True, text=True)
        assert r.returncode == 2 and "--uffd" in r.stderr
    finally:
        h.proc.kill()
