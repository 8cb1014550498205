# SPDX-License-Identifier: Apache-2.0
"""petreld and firmware-booted VMs (issue 52), and the workers' own events it forwards.

Without KVM: firmware definitions (SeaBIOS, drives' boot_index, machine-config.uuid) accepted and
shown back, bad ones refused with the field named; a worker's events file followed
(worker_events.c): a reset count taken over at re-adoption, a reset written afterwards
forwarded as petreld's "reset" event, hostile lines and a linked file ignored.
Under KVM: a firmware VM boots SeaBIOS -> GRUB -> the boot test guest as a jailed worker
(one firmware boot, ~35 s on a PVM host), and a kernel-booted guest that resets once shows
its reset in petreld's event stream and status."""
import json
import os
import signal
import socket
import sys
import time

import pytest

import mgrlib
import petrel_test

UUID = "663cf08f-c355-4ee7-ac5a-e441a60df051"
GRUB_MARKER = "petrel-grub: menu"   # scripts/mkimage.sh's grub.cfg echoes it before its menu
BOOT_CMDLINE = "petrel-test-token=1234"


def firmware_doc(name, disks, firmware="seabios", **extra):
    """A firmware VM: disks is [(drive_id, path, boot_index or None)]."""
    drives = []
    for drive_id, path, index in disks:
        d = {"drive_id": drive_id, "path_on_host": str(path), "is_root_device": False, "is_read_only": True}
        if index is not None:
            d["boot_index"] = index
        drives.append(d)
    return {"boot-source": {"firmware": firmware}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 256, "uuid": UUID},
            "drives": drives, **extra, "petrel": {"name": name}}


def test_firmware_definitions_are_valid_and_shown_back(petreld):
    p = petreld(jailer=False)
    a, b = p.root / "a.img", p.root / "b.img"
    for f in (a, b):
        f.write_bytes(bytes(1 << 20))
    st, vm = p.api("POST", "/vms", firmware_doc("fw", [("data", a, 1), ("boot", b, 0)]))
    assert st == 201, vm
    assert vm["machine-config"]["uuid"] == UUID
    doc = p.api("GET", "/vms/fw/definition")[1]
    assert doc["boot-source"] == {"firmware": "seabios"}
    assert [(d["drive_id"], d["boot_index"]) for d in doc["drives"]] == [("data", 1), ("boot", 0)]
    assert doc["machine-config"]["uuid"] == UUID
    r = p.ctl("dumpdef", "fw", check=True)
    assert json.loads(r.stdout)["boot-source"]["firmware"] == "seabios"
    # A firmware's own path, absolute, is one too.
    doc = firmware_doc("fwpath", [], firmware="/usr/share/seabios/bios-256k.bin")
    if os.path.exists("/usr/share/seabios/bios-256k.bin"):
        assert p.api("POST", "/vms", doc)[0] == 201


@pytest.mark.parametrize("change, words", [
    (lambda d, k: d["boot-source"].update(kernel_image_path=str(k)), "kernel_image_path, initrd_path and boot_args go with no firmware"),
    (lambda d, k: d["boot-source"].update(boot_args="console=ttyS0"), "go with no firmware"),
    (lambda d, k: d["drives"][0].update(boot_index=-1), "drives[0].boot_index: must be between 0 and 255"),
    (lambda d, k: d["drives"][0].update(boot_index=256), "drives[0].boot_index: must be between 0 and 255"),
    (lambda d, k: d["drives"][0].update(boot_index="0"), "drives[0].boot_index: expected an integer"),
    (lambda d, k: d["boot-source"].update(firmware="bios-256k.bin"), "boot-source.firmware: expected \"seabios\", \"ovmf\" or an absolute path, not 'bios-256k.bin'"),
    (lambda d, k: d["boot-source"].update(firmware="../seabios/bios.bin"), "expected \"seabios\", \"ovmf\" or an absolute path"),
    (lambda d, k: d["boot-source"].update(firmware="OVMF"), "expected \"seabios\", \"ovmf\" or an absolute path, not 'OVMF'"),
    (lambda d, k: d["boot-source"].update(firmware="/usr/share/../share/seabios/bios.bin"), "has a '.' or '..' component"),
    (lambda d, k: d["boot-source"].update(firmware="/nonexistent/bios.bin"), "No such file or directory"),
    (lambda d, k: d["boot-source"].update(firmware="/tmp"), "is a directory, not a regular file"),
    (lambda d, k: d["boot-source"].update(firmware=""), "boot-source.firmware"),
    (lambda d, k: d["machine-config"].update(uuid="not-a-uuid"), "machine-config.uuid"),
])
def test_bad_firmware_definitions_are_refused(petreld, change, words):
    p = petreld(jailer=False)
    disk = p.root / "d.img"
    disk.write_bytes(bytes(1 << 20))
    doc = firmware_doc("bad", [("d", disk, 0)])
    change(doc, mgrlib.guest("counter"))
    st, body = p.api("POST", "/vms", doc)
    assert st == 400 and words in body["fault_message"], body
    assert p.api("GET", "/vms")[1] == []
    assert not (p.defs / "bad.json").exists()


def test_worker_events_are_followed_and_forwarded(petreld):
    """Without KVM: real (unbooted) workers left by a killed petreld, their events files written
    here as a worker writes them (docs/events.md's envelope)."""
    p = petreld(jailer=False)
    for n in ("ev", "linked"):
        assert p.define(n)[0] == 201
    p.stop(signal.SIGKILL)
    workers = mgrlib.leave_workers(p, ["ev", "linked"])
    try:
        def line(count, source="vm", event="reset"):
            return json.dumps({"timestamp": "2026-11-27T00:00:00Z", "monotonic_us": 1, "seq": count, "id": "ev",
                               "source": source, "event": event,
                               "properties": {"message": "keyboard controller reset", "count": count}}) + "\n"
        events = p.state / "sock" / "ev.events"
        events.write_text(line(1) + line(2))
        # another VM's file is a link the worker made: not followed, its resets not taken
        other = p.root / "elsewhere.events"
        other.write_text(line(7))
        os.symlink(other, p.state / "sock" / "linked.events")
        p.start()
        # Re-adopted: the count of the resets the petreld before forwarded, not sent again.
        assert p.api("GET", "/vms/ev")[1]["resets"] == 2
        assert p.api("GET", "/vms/linked")[1]["resets"] == 0
        assert "not followed" in (p.state / "logs" / "linked.log").read_text()
        ev = mgrlib.Events(p.sock)
        with open(events, "a") as f:
            # what a hostile worker may write: nothing of it is an event petreld forwards
            for junk in ["not json", "{", json.dumps({"source": "vm", "event": "reset", "properties": {"count": -1}}),
                         json.dumps({"source": "vm", "event": "reset", "properties": {"count": "3"}}),
                         json.dumps({"source": "guest", "event": "reset", "properties": {"count": 9}}),
                         '{"source":"vm","event":"reset","event":"reset","properties":{"count":9}}',
                         "x" * 100000 + '"reset"', "\0" * 10]:
                f.write(junk + "\n")
            f.flush()
            # a line in two writes: forwarded once whole
            half = line(3)
            f.write(half[:40])
            f.flush()
            time.sleep(0.3)
            f.write(half[40:])
        e = ev.wait("ev", "reset")
        assert e["count"] == 3 and e["message"] == "keyboard controller reset"
        assert p.api("GET", "/vms/ev")[1]["resets"] == 3
        with open(events, "a") as f:
            f.write(line(4))
        assert ev.wait("ev", "reset")["count"] == 4
        time.sleep(0.5)
        assert [x for x in ev.seen if x["event"] == "reset"] == []
        ev.close()
        # the VM's log has each forwarded reset once
        log = (p.state / "logs" / "ev.log").read_text()
        assert log.count('"event":"reset"') == 2, log
        assert p.api("POST", "/vms/ev/destroy")[0] == 200
        assert "resets" not in p.api("GET", "/vms/ev")[1]
    finally:
        for w in workers:
            w.kill()


def wait_log(path, words, timeout):
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if all(w in text for w in words):
            return text
        assert time.monotonic() < deadline, f"no {words} within {timeout} s:\n{text[-3000:]}"
        time.sleep(0.2)


def console_backlog(p, name, want, timeout=10):
    """GET /vms/NAME/console (a long-lived answer) until want is in it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(p.sock))
        s.sendall(f"GET /vms/{name}/console HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        got = b""
        deadline = time.monotonic() + timeout
        while want.encode() not in got and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    return got.decode(errors="replace")


@pytest.fixture
def grub_disk(tmp_path):
    sys.path.insert(0, str(mgrlib.REPO / "tests" / "firmware"))
    import fwlib   # scripts/mkimage.sh and what it needs
    missing = fwlib.missing_tools()
    missing = [m for m in missing if m != fwlib.QEMU]   # QEMU is the oracle's, not needed here
    if missing:
        pytest.skip("missing " + ", ".join(missing))
    kernel = mgrlib.GUESTS / "boot.bzimage"
    if not kernel.exists():
        pytest.skip("test guests not built")

    def make(out):
        fwlib.mkimage("grub-disk", out, kernel, "", BOOT_CMDLINE)
        return out
    return make


def test_a_firmware_vm_boots_from_its_disk(petreld, kvm, grub_disk):
    p = petreld()
    # Disks live on the jail base's file system: the worker gets hard links.
    disk = grub_disk(p.root / "grub.img")
    ev = mgrlib.Events(p.sock)
    st, vm = p.api("POST", "/vms", firmware_doc("fwboot", [("boot", disk, 0)]))
    assert st == 201, vm
    r = p.ctl("start", "fwboot", timeout=180)
    assert r.returncode == 0, r.stderr + p.log.read_text()[-2000:]
    ev.wait("fwboot", "started")
    vm = p.api("GET", "/vms/fwboot")[1]
    assert vm["state"] == "running" and vm["resets"] == 0
    # The firmware went into the jail like a kernel, read-only for the worker.
    assert os.path.exists(f"/proc/{vm['vmm_pid']}/root/vm/f0")
    log = p.state / "logs" / "fwboot.worker.log"
    text = wait_log(log, [GRUB_MARKER, "ok boot"], 240)
    assert text.index(GRUB_MARKER) < text.index("ok boot")
    assert "FAIL" not in text
    assert "ok boot" in console_backlog(p, "fwboot", "ok boot")
    # The guest now knocks on the debug-exit port, which a VM of petreld's does not have.
    r = p.ctl("destroy", "fwboot")
    assert r.returncode == 0, r.stderr
    ev.wait("fwboot", "stopped")
    assert p.api("GET", "/vms/fwboot")[1]["state"] == "shut off"
    ev.close()


def test_a_guest_reset_reaches_petrelds_event_stream(petreld, kvm):
    p = petreld()
    ev = mgrlib.Events(p.sock)
    assert p.define("rb", **{"boot-source": {"kernel_image_path": str(mgrlib.guest("reboot")),
                                       "boot_args": "resets=1 mode=i8042"}})[0] == 201
    assert p.api("POST", "/vms/rb/start")[0] == 200
    e = ev.wait("rb", "reset", timeout=120)
    assert e["count"] == 1 and e["message"], e
    wait_log(p.state / "logs" / "rb.worker.log", ["reboot: boot 1", "ok reboot"], 120)
    vm = p.api("GET", "/vms/rb")[1]
    assert vm["state"] == "running" and vm["resets"] == 1, vm
    # A petreld killed and started again takes the count over from the worker's file.
    p.stop(signal.SIGKILL)
    p.start()
    assert p.api("GET", "/vms/rb")[1]["resets"] == 1
    assert (p.state / "logs" / "rb.log").read_text().count('"event":"reset"') == 1
    assert p.api("POST", "/vms/rb/destroy")[0] == 200
    ev.close()
