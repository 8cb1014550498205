# SPDX-License-Identifier: Apache-2.0
"""petreld and a UEFI VM's variables file (issue 53, uefi_vars.c, docs/manager.md#uefi-vms).

Without KVM: a definition with firmware "ovmf" gets <defs dir>/NAME.vars made from OVMF's
template (mode 0600, whole, no temporary file left) and firmware_vars_path naming it; a
redefinition keeps the file, undefine removes it; a clone gets a copy of its own; a restore puts
a backup's copy back; refused: a missing template, a path in petreld's directory that is not the
VM's own, a missing file of the user's, another VM's file, SeaBIOS with a vars path. A user's
file elsewhere is used as given and never removed."""
import json
import os
import signal
import stat
import time
from pathlib import Path

import pytest

import mgrlib

TEMPLATE = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")


@pytest.fixture
def ovmf():
    if not TEMPLATE.exists() or not CODE.exists():
        pytest.skip("Debian's ovmf is not installed (scripts/setup.sh)")


def uefi_doc(name, vars_path=None, firmware="ovmf", drives=()):
    bs = {"firmware": firmware}
    if vars_path is not None:
        bs["firmware_vars_path"] = str(vars_path)
    return {"boot-source": bs, "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
            "drives": list(drives), "petrel": {"name": name}}


def leftovers(p):
    return [f.name for f in p.defs.iterdir() if f.name.startswith(".")]


def test_define_makes_the_vars_file_and_undefine_removes_it(petreld, ovmf):
    p = petreld(jailer=False)
    st, vm = p.api("POST", "/vms", uefi_doc("u1"))
    assert st == 201, vm
    vars_file = p.defs / "u1.vars"
    doc = p.api("GET", "/vms/u1/definition")[1]
    assert doc["boot-source"] == {"firmware": "ovmf", "firmware_vars_path": str(vars_file)}
    assert vars_file.read_bytes() == TEMPLATE.read_bytes()
    assert stat.S_IMODE(vars_file.stat().st_mode) == 0o600
    assert leftovers(p) == []
    # What the guest wrote stays across a redefinition (given the path back, or without it).
    with open(vars_file, "r+b") as f:
        f.seek(0x20000)
        f.write(b"petrel-variable")
    for d in (doc, uefi_doc("u1")):
        assert p.api("POST", "/vms", d)[0] == 200
        assert b"petrel-variable" in vars_file.read_bytes()
    # And across a restart of petreld.
    p.stop()
    p.start()
    assert p.api("GET", "/vms/u1/definition")[1]["boot-source"]["firmware_vars_path"] == str(vars_file)
    assert p.api("DELETE", "/vms/u1")[0] == 204
    assert not vars_file.exists()
    assert p.api("GET", "/vms")[1] == []


def test_refused_definitions_leave_no_file(petreld, ovmf):
    p = petreld(jailer=False)
    # A drive that does not exist: refused after the file was made, which goes again.
    bad = uefi_doc("u2", drives=[{"drive_id": "d", "path_on_host": str(p.root / "none.img"),
                                  "is_root_device": False, "is_read_only": True}])
    st, body = p.api("POST", "/vms", bad)
    assert st == 400 and "No such file" in body["fault_message"], body
    assert sorted(f.name for f in p.defs.iterdir()) == []
    # A path in petreld's directory other than the VM's own.
    for path in (p.defs / "other.vars", p.defs / "u2.json", p.defs / "sub" / "u2.vars"):
        st, body = p.api("POST", "/vms", uefi_doc("u2", path))
        assert st == 400 and "is in petreld's definitions directory" in body["fault_message"], body
        assert str(p.defs / "u2.vars") in body["fault_message"]
    # A file of the user's that does not exist: petreld makes only its own.
    st, body = p.api("POST", "/vms", uefi_doc("u2", p.root / "mine.vars"))
    assert st == 400 and "firmware_vars_path: '%s': No such file" % (p.root / "mine.vars") in body["fault_message"], body
    # Relative, or with '..'.
    for path in ("u2.vars", str(p.root / ".." / "x.vars")):
        st, body = p.api("POST", "/vms", uefi_doc("u2", path))
        assert st == 400 and "firmware_vars_path" in body["fault_message"], body
    # SeaBIOS keeps no variables; a vars path needs a firmware (the VMM's parser says so).
    st, body = p.api("POST", "/vms", uefi_doc("u2", p.root / "mine.vars", firmware="seabios"))
    assert st == 400 and "SeaBIOS keeps no variables" in body["fault_message"], body
    doc = uefi_doc("u2", p.root / "mine.vars")
    doc["boot-source"] = {"kernel_image_path": str(mgrlib.guest("counter")), "firmware_vars_path": str(p.root / "x")}
    st, body = p.api("POST", "/vms", doc)
    assert st == 400 and "goes with a firmware" in body["fault_message"], body
    assert sorted(f.name for f in p.defs.iterdir()) == []
    assert p.api("GET", "/vms")[1] == []


def test_a_missing_template_is_refused(petreld, ovmf, tmp_path):
    p = petreld(jailer=False, args=["--ovmf-vars-template", str(tmp_path / "gone.fd")])
    st, body = p.api("POST", "/vms", uefi_doc("u3"))
    assert st == 400, body
    assert f"cannot make the variables file {p.defs / 'u3.vars'} from {tmp_path / 'gone.fd'}" in body["fault_message"]
    assert sorted(f.name for f in p.defs.iterdir()) == []
    # A SeaBIOS VM does not need it.
    st, body = p.api("POST", "/vms", uefi_doc("bios", firmware="seabios"))
    assert st == 201 or "seabios" in body["fault_message"], body
    assert not (p.defs / "bios.vars").exists()


def test_a_users_vars_file_is_used_as_given(petreld, ovmf):
    p = petreld(jailer=False)
    mine = p.root / "mine.vars"
    mine.write_bytes(TEMPLATE.read_bytes())
    st, vm = p.api("POST", "/vms", uefi_doc("u4", mine))
    assert st == 201, vm
    assert not (p.defs / "u4.vars").exists()
    # Another VM may not use it: the worker writes it, like a disk.
    st, body = p.api("POST", "/vms", uefi_doc("u5", mine))
    assert st == 409 and "is a disk of VM 'u4'" in body["fault_message"], body
    # Its own path, given explicitly, is petreld's own: made.
    st, vm = p.api("POST", "/vms", uefi_doc("u5", p.defs / "u5.vars"))
    assert st == 201, vm
    assert (p.defs / "u5.vars").read_bytes() == TEMPLATE.read_bytes()
    assert p.api("DELETE", "/vms/u4")[0] == 204
    assert mine.exists(), "petreld removed a file it did not make"
    assert p.api("DELETE", "/vms/u5")[0] == 204
    assert not (p.defs / "u5.vars").exists()


def fake_dir(d, definition, files):
    d.mkdir(parents=True)
    (d / "vm.state").write_bytes(b"not a snapshot")
    (d / "vm.mem").write_bytes(bytes(4096))
    for name, data in files.items():
        (d / name).write_bytes(data)
    (d / "meta.json").write_text(json.dumps({"name": d.name, "created": int(time.time()), "vm_state": "running",
                                              "definition": definition}))


def test_a_clone_gets_a_copy_of_its_own(petreld, ovmf):
    p = petreld(jailer=False)
    assert p.api("POST", "/vms", uefi_doc("tmpl"))[0] == 201
    src = p.defs / "tmpl.vars"
    with open(src, "r+b") as f:
        f.seek(0x20000)
        f.write(b"template-variable")
    fake_dir(p.root / "snap" / "tmpl" / "s1", p.api("GET", "/vms/tmpl/definition")[1], {})
    st, clones = p.api("POST", "/vms/tmpl/clone", {"snapshot": "s1", "count": 2, "prefix": "c", "start": False})
    assert st == 200, clones
    for n in ("c0", "c1"):
        own = p.defs / f"{n}.vars"
        assert p.api("GET", f"/vms/{n}/definition")[1]["boot-source"]["firmware_vars_path"] == str(own)
        assert own.read_bytes() == src.read_bytes()
        assert stat.S_IMODE(own.stat().st_mode) == 0o600
        assert os.stat(own).st_ino != os.stat(src).st_ino
    with open(p.defs / "c0.vars", "r+b") as f:
        f.seek(0x20000)
        f.write(b"clone-variable")
    assert b"template-variable" in src.read_bytes()
    assert p.api("DELETE", "/vms/c0")[0] == 204
    assert not (p.defs / "c0.vars").exists() and src.exists()
    # A file where a clone's would go: refused before anything is made.
    (p.defs / "d0.vars").write_bytes(b"stale")
    st, body = p.api("POST", "/vms/tmpl/clone", {"snapshot": "s1", "count": 1, "prefix": "d", "start": False})
    assert st == 409 and "the variables of an earlier 'd0'" in body["fault_message"], body
    assert (p.defs / "d0.vars").read_bytes() == b"stale" and not (p.defs / "d0.json").exists()
    assert leftovers(p) == []


def test_a_restore_puts_the_backups_vars_file_back(petreld, ovmf):
    """The backup here is made by hand (a real one needs a running VM): the restore puts its files
    back, then its worker cannot load the fake state, which is all this test does not need."""
    p = petreld(jailer=False)
    assert p.api("POST", "/vms", uefi_doc("rs"))[0] == 201
    own = p.defs / "rs.vars"
    saved = bytearray(TEMPLATE.read_bytes())
    saved[0x20000:0x20005] = b"saved"
    fake_dir(p.root / "snap" / "rs.backups" / "b1", p.api("GET", "/vms/rs/definition")[1],
             {"firmware.vars": bytes(saved)})
    with open(own, "r+b") as f:
        f.seek(0x20000)
        f.write(b"later")
    st, body = p.api("POST", "/vms/rs/restore", {"backup": "b1"})
    assert st != 200   # the fake state does not load
    assert own.read_bytes() == bytes(saved)
    assert stat.S_IMODE(own.stat().st_mode) == 0o600


def tls_host(petreld, pki, cert, jailer=False):
    import tlslib
    port = tlslib.free_port()
    p = petreld(args=["--listen-tcp", f"127.0.0.1:{port}", "--tls-dir", str(pki / cert)], jailer=jailer)
    tlslib.wait_port(("127.0.0.1", port), p.proc)
    return p, port


@pytest.fixture
def pki(tmp_path):
    import tlslib
    if not tlslib.have_certtool():
        pytest.skip("certtool (gnutls-bin) not installed")
    tlslib.make_pki(tmp_path / "pki", "src,127.0.0.1,localhost", "dst,127.0.0.1,localhost")
    return tmp_path / "pki"


@pytest.mark.parametrize("jailer", [False, True])
def test_an_incoming_migration_gets_a_vars_file_here(petreld, ovmf, pki, jailer):
    """The target's side without a guest: the target makes its own file for the receiver (the
    stream's flash section fills it) and removes it when the migration is dropped."""
    import tlslib
    t, port = tls_host(petreld, pki, "dst", jailer)
    ctx = tlslib.context(pki / "ca.pem", pki / "src")
    addr = ("127.0.0.1", port)
    st, r = tlslib.request(addr, ctx, "POST", "/migrations/incoming", {"definition": uefi_doc("inc")}, timeout=60)
    assert st == 200, r
    own = t.defs / "inc.vars"
    assert own.read_bytes() == TEMPLATE.read_bytes()
    assert not (t.defs / "inc.json").exists()
    if jailer:   # linked into the worker's jail like a disk, the worker's own
        linked = [f for f in (t.jails / "petrel" / "inc" / "root" / "vm").iterdir()
                  if f.stat().st_ino == own.stat().st_ino]
        assert linked and linked[0].stat().st_uid != 0, linked
    assert tlslib.request(addr, ctx, "DELETE", "/migrations/incoming/inc")[0] == 204
    deadline = time.monotonic() + 15
    while t.api("GET", "/vms")[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert t.api("GET", "/vms")[1] == []
    assert not own.exists()


def test_a_clone_of_a_vm_with_a_users_file_gets_its_own(petreld, ovmf):
    """A firmware named by its path is UEFI by its vars path: the clone keeps one, its own."""
    p = petreld(jailer=False)
    mine = p.root / "mine.vars"
    mine.write_bytes(b"user-variables" + TEMPLATE.read_bytes()[14:])
    assert p.api("POST", "/vms", uefi_doc("tp", mine, firmware=str(CODE)))[0] == 201
    fake_dir(p.root / "snap" / "tp" / "s1", p.api("GET", "/vms/tp/definition")[1], {})
    st, clones = p.api("POST", "/vms/tp/clone", {"snapshot": "s1", "count": 1, "prefix": "k", "start": False})
    assert st == 200, clones
    bs = p.api("GET", "/vms/k0/definition")[1]["boot-source"]
    assert bs == {"firmware": str(CODE), "firmware_vars_path": str(p.defs / "k0.vars")}, bs
    assert (p.defs / "k0.vars").read_bytes() == mine.read_bytes()
    assert p.api("DELETE", "/vms/k0")[0] == 204 and p.api("DELETE", "/vms/tp")[0] == 204
    assert mine.exists() and not (p.defs / "k0.vars").exists()


def test_a_migration_source_sends_no_path_of_its_own(petreld, ovmf, pki):
    """The source's side, its worker without a guest (it refuses to send): the target prepared
    with a file of its own, then dropped it. Both petrelds are on this host: the source's file is
    removed first, so that its path, had it been sent, would be refused there as a missing file
    of the user's."""
    p, _ = tls_host(petreld, pki, "src")
    assert p.api("POST", "/vms", uefi_doc("mv"))[0] == 201
    (p.defs / "mv.vars").unlink()
    p.stop(signal.SIGKILL)
    workers = mgrlib.leave_workers(p, ["mv"])
    try:
        p.start()
        t, port = tls_host(petreld, pki, "dst")
        ev = mgrlib.Events(t.sock)
        st, r = p.api("POST", "/vms/mv/migrate", {"to": f"127.0.0.1:{port}"}, timeout=60)
        assert st == 502 and "/migration/send" in r["fault_message"], r
        ev.wait("mv", "incoming migration failed")
        ev.close()
        deadline = time.monotonic() + 10
        while t.api("GET", "/vms")[1] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert t.api("GET", "/vms")[1] == []
        assert not (t.defs / "mv.vars").exists()
    finally:
        for w in workers:
            w.kill()
