#!/usr/bin/env python3
"""VMs made from an image (issue 55: "creation of a VM from an image under 100 ms of host time
plus the boot"; docs/manager.md#vms-from-an-image). A petreld with jailed workers and an image in
its store (a GRUB disk of the project's boot test guest, scripts/mkimage.sh grub-disk, 8 MiB);
then:
  - made, not started: POST /vms/from-image with count N, and N requests of one VM each: wall
    time at the API and petreld's CPU time (utime + stime of its /proc/PID/stat) per VM: the
    overlay (root.base linked, root.qcow2 made by qcow2_create), the definition checked and
    written, the cloud-init seed made (mformat/mcopy, Part B's ci_drive.c), the inventory;
    each batch undefined again;
  - with /dev/kvm, made and started: POST /vms/from-image count N, "start": true, booting from the
    disk ("boot": "disk", the VMM's direct boot) and through SeaBIOS and GRUB ("boot": "seabios"):
    the request's wall time (all N workers up and booting), and the time until every guest printed
    "ok boot" on its console (the kernel GRUB's grub.cfg names, read from the disk by each jailed
    worker, or loaded by GRUB);
  - the peer (bench/virtinst_peer.py), the same image: per VM a qcow2 overlay (qemu-img create -b)
    and virt-install --import --cloud-init (its own seed) against a libvirtd the bench starts:
    made, not started (virt-install --print-xml, which makes the seed, and virsh define of its XML:
    what petreld's define does), wall and host CPU per VM (the bench's children: qemu-img,
    virt-install, virsh; and libvirtd's own); with /dev/kvm the N made and started one after the
    other (virt-install --noautoconsole), the time until the last virt-install returned and until
    every guest printed "ok boot" on its serial port (a file per domain). QEMU boots the disk
    through SeaBIOS and GRUB: its row compares with petreld's "seabios" row, and the ratios are
    printed. Without virt-install or a libvirtd that starts, the peer's rows fail (BENCH_QUICK=1:
    the bench exits 1).

  sudo python3 bench/from_image.py [N]        (default 10; BENCH_QUICK=1: 2)
"""
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import petrel_test  # noqa: F401,E402  (the shared test framework: mgrlib, fwlib)
import mgrlib  # noqa: E402
from benchlib import failed, pick  # noqa: E402
import virtinst_peer  # noqa: E402

sys.path.insert(0, str(mgrlib.REPO / "tests" / "firmware"))
import fwlib  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
MEMORY = {"disk": 64, "seabios": 128}           # MiB of each guest
BOOT_WAIT = {"disk": 600, "seabios": 1800}      # s; SeaBIOS and GRUB take ~35 s a VM on a PVM host


def cpu_ms(pid):
    """utime + stime of pid and of its children it waited for (the seed's mformat and mcopy), ms
    (clock ticks: the rows add up many VMs)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) * 1000 / TICK


def made(p, n, one_by_one):
    """Make n VMs (one request, or n): (wall ms per VM, petreld's CPU ms per VM); undefined after."""
    names = [f"fi-{i + 1}" for i in range(n)]
    c0, t0 = cpu_ms(p.proc.pid), time.monotonic()
    if one_by_one:
        for name in names:
            st, body = p.api("POST", "/vms/from-image", {"name": name, "image": "grub"}, timeout=120)
            if st != 201:
                failed(f"from-image {name}: {st} {body}")
    else:
        st, body = p.api("POST", "/vms/from-image", {"name": "fi", "image": "grub", "count": n}, timeout=300)
        if st != 201:
            failed(f"from-image count {n}: {st} {body}")
    wall, cpu = (time.monotonic() - t0) * 1000 / n, (cpu_ms(p.proc.pid) - c0) / n
    for name in names:
        p.api("DELETE", f"/vms/{name}")
    return wall, cpu


def all_printed(files, t0, timeout):
    """ms from t0 until every file has "ok boot", or None (failed) after timeout s."""
    deadline = time.monotonic() + timeout
    while not all(f.exists() and "ok boot" in f.read_text(errors="replace") for f in files):
        if time.monotonic() > deadline:
            failed(f"not every guest booted within {timeout} s")
            return None
        time.sleep(0.02)
    return (time.monotonic() - t0) * 1000


def started(p, n, boot):
    """n VMs made and started from the image, booting from the disk or through SeaBIOS
    (boot): (request ms, all booted ms)."""
    name = f"f{boot[0]}"       # a name of each row's: a VM's log outlives the VM
    t0 = time.monotonic()
    st, body = p.api("POST", "/vms/from-image", {"name": name, "image": "grub", "count": n, "boot": boot,
                                                 "memory_mib": MEMORY[boot], "start": True}, timeout=600)
    t_req = (time.monotonic() - t0) * 1000
    if st != 201:
        failed(f"from-image count {n}, {boot}, started: {st} {body}")
        return t_req, None
    t_all = all_printed([p.state / "logs" / f"{name}-{i + 1}.worker.log" for i in range(n)], t0, BOOT_WAIT[boot])
    for i in range(n):
        p.api("POST", f"/vms/{name}-{i + 1}/destroy", timeout=60)
        p.api("DELETE", f"/vms/{name}-{i + 1}")
    return t_req, t_all


def peer_made(peer, n):
    """n VMs made with virt-install, not started (virtinst_peer.Peer.define): (wall ms per VM, host
    CPU ms per VM: the bench's children and libvirtd); undefined after."""
    c0, l0, t0 = virtinst_peer.children_cpu_ms(), peer.libvirtd_cpu_ms(), time.monotonic()
    for i in range(n):
        peer.define(f"vi-{i + 1}")
    wall = (time.monotonic() - t0) * 1000 / n
    cpu = (virtinst_peer.children_cpu_ms() - c0 + peer.libvirtd_cpu_ms() - l0) / n
    peer.remove_all()
    return wall, cpu


def peer_started(peer, n):
    """n VMs made and started with virt-install, one after the other: (ms until the last
    virt-install returned, ms until every guest printed "ok boot", host CPU ms per VM of the
    bench's children and libvirtd until the last virt-install returned: QEMU's own is not in it)."""
    names = [f"vi-{i + 1}" for i in range(n)]
    c0, l0, t0 = virtinst_peer.children_cpu_ms(), peer.libvirtd_cpu_ms(), time.monotonic()
    for name in names:
        peer.create(name)
    t_req = (time.monotonic() - t0) * 1000
    cpu = (virtinst_peer.children_cpu_ms() - c0 + peer.libvirtd_cpu_ms() - l0) / n
    t_all = all_printed([peer.serial_log(name) for name in names], t0, BOOT_WAIT["seabios"])
    peer.remove_all()
    return t_req, t_all, cpu


def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "-"


def peer_rows(image, n, rounds, ours):
    """The virt-install rows beside ours ({row: figure}), the ratios printed."""
    why = virtinst_peer.missing()
    if why:
        failed(f"  peer virt-install: not measured: {why}")
        return
    try:
        peer = virtinst_peer.Peer(image, MEMORY["seabios"])
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        failed(f"  peer virt-install: not measured: libvirtd (started by hand, no systemd here) did not run: {e}")
        return
    try:
        print(f"  peer: {peer.version and 'virt-install ' + peer.version}, libvirtd "
              f"{subprocess.run(['libvirtd', '--version'], capture_output=True, text=True).stdout.split()[-1]}, "
              f"QEMU (KVM), SeaBIOS + GRUB, {n} VMs one after the other")
        rows = [peer_made(peer, n) for _ in range(rounds)]
        wall, cpu = statistics.median(r[0] for r in rows), statistics.mean(r[1] for r in rows)
        print(f"  {'virt-install, made':<28} wall {wall:8.2f} ms/VM (median of {rounds})   "
              f"host CPU {cpu:7.2f} ms/VM (mean)   petreld: wall {ratio(wall, ours['wall'])}, "
              f"CPU {ratio(cpu, ours['cpu'])} of petreld's (N requests of one)")
        if not mgrlib.has_kvm():
            return
        t_req, t_all, cpu = peer_started(peer, n)
        print(f"  virt-install, made and started (SeaBIOS + GRUB)   last virt-install returned {t_req:8.1f} ms "
              f"(host CPU {cpu:.1f} ms/VM)   every guest's 'ok boot' {t_all if t_all is None else round(t_all, 1)} ms"
              f"   ({n} VMs)")
        print(f"  ratios, virt-install / petreld: made {ratio(t_req, ours['seabios'][0])}, every 'ok boot' "
              f"{ratio(t_all, ours['seabios'][1])} of petreld's SeaBIOS row, {ratio(t_all, ours['disk'][1])} of its "
              "boot from the disk")
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        failed(f"  peer virt-install: failed: {e}")
    finally:
        peer.close()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else pick(10, 2)   # quick: still a batch, two boots fewer each side
    missing = [m for m in fwlib.missing_tools() if m != fwlib.QEMU]
    kernel = mgrlib.GUESTS / "boot.bzimage"
    if missing or not kernel.exists():
        failed(f"cannot make the image: missing {', '.join(missing) or kernel}")
        return
    p = mgrlib.Petreld().start()
    try:
        disk = p.root / "grub.img"
        fwlib.mkimage("grub-disk", disk, kernel, "", "petrel-test-token=1234")   # what the boot guest checks
        peer_image = p.root / "grub-peer.img"      # the same image for virt-install (the store takes disk)
        shutil.copyfile(disk, peer_image)
        st, img = p.api("POST", "/images", {"name": "grub", "path": str(disk), "move": True}, timeout=120)
        if st != 201:
            failed(f"import: {st} {img}")
            return
        print(f"VMs from an image ({img['format']}, {img['virtual_size'] >> 20} MiB), {n} at a time, jailed workers")
        rounds = pick(5, 1)
        ours = {}
        for label, one in (("made, one request of N", False), ("made, N requests of one", True)):
            rows = [made(p, n, one) for _ in range(rounds)]
            ours["wall"], ours["cpu"] = statistics.median(r[0] for r in rows), statistics.mean(r[1] for r in rows)
            print(f"  {label:<28} wall {ours['wall']:8.2f} ms/VM (median of {rounds})   "
                  f"petreld CPU {ours['cpu']:7.2f} ms/VM (mean)   (goal: < 100 ms)")
        if mgrlib.has_kvm():
            for boot, label in (("disk", "boot from the disk"), ("seabios", "SeaBIOS + GRUB")):
                ours[boot] = started(p, n, boot)
                t_req, t_all = ours[boot]
                print(f"  made and started ({label})   request {t_req:8.1f} ms   every guest's 'ok boot' "
                      f"{t_all if t_all is None else round(t_all, 1)} ms   ({n} VMs)")
        else:
            print("  started: no /dev/kvm")
        peer_rows(peer_image, n, rounds, ours)
    finally:
        p.close()


if __name__ == "__main__":
    main()
