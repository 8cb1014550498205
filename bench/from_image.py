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
  - with /dev/kvm, made and started: POST /vms/from-image count N, "boot": "disk" (the VMM's
    direct boot from the disk), "start": true: the request's wall time (all N workers up and
    booting), and the time until every guest printed "ok boot" on its console (the kernel GRUB's
    grub.cfg names, read from the disk by each jailed worker).
`virt-install --import` has no row: libvirt is not on this host.

  sudo python3 bench/from_image.py [N]        (default 10; BENCH_QUICK=1: 3)
"""
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import petrel_test  # noqa: F401,E402  (the shared test framework: mgrlib, fwlib)
import mgrlib  # noqa: E402
from benchlib import failed, pick  # noqa: E402

sys.path.insert(0, str(mgrlib.REPO / "tests" / "firmware"))
import fwlib  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


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


def started(p, n):
    """n VMs made and started from the image, booting from the disk: (request ms, all booted ms)."""
    t0 = time.monotonic()
    st, body = p.api("POST", "/vms/from-image", {"name": "fi", "image": "grub", "count": n, "boot": "disk",
                                                 "memory_mib": 64, "start": True}, timeout=600)
    t_req = (time.monotonic() - t0) * 1000
    if st != 201:
        failed(f"from-image count {n}, started: {st} {body}")
        return t_req, None
    logs = [p.state / "logs" / f"fi-{i + 1}.worker.log" for i in range(n)]
    deadline = time.monotonic() + 600
    while not all(f.exists() and "ok boot" in f.read_text(errors="replace") for f in logs):
        if time.monotonic() > deadline:
            failed("not every guest booted within 600 s")
            return t_req, None
        time.sleep(0.02)
    t_all = (time.monotonic() - t0) * 1000
    for i in range(n):
        p.api("POST", f"/vms/fi-{i + 1}/destroy", timeout=60)
        p.api("DELETE", f"/vms/fi-{i + 1}")
    return t_req, t_all


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else pick(10, 3)
    missing = [m for m in fwlib.missing_tools() if m != fwlib.QEMU]
    kernel = mgrlib.GUESTS / "boot.bzimage"
    if missing or not kernel.exists():
        failed(f"cannot make the image: missing {', '.join(missing) or kernel}")
        return
    p = mgrlib.Petreld().start()
    try:
        disk = p.root / "grub.img"
        fwlib.mkimage("grub-disk", disk, kernel, "", "petrel-test-token=1234")   # what the boot guest checks
        st, img = p.api("POST", "/images", {"name": "grub", "path": str(disk), "move": True}, timeout=120)
        if st != 201:
            failed(f"import: {st} {img}")
            return
        print(f"VMs from an image ({img['format']}, {img['virtual_size'] >> 20} MiB), {n} at a time, jailed workers")
        rounds = pick(5, 1)
        for label, one in (("made, one request of N", False), ("made, N requests of one", True)):
            rows = [made(p, n, one) for _ in range(rounds)]
            print(f"  {label:<28} wall {statistics.median(r[0] for r in rows):8.2f} ms/VM (median of {rounds})   "
                  f"petreld CPU {statistics.mean(r[1] for r in rows):7.2f} ms/VM (mean)   (goal: < 100 ms)")
        if not mgrlib.has_kvm():
            print("  started: no /dev/kvm")
            return
        t_req, t_all = started(p, n)
        print(f"  made and started (boot from the disk)   request {t_req:8.1f} ms   every guest's 'ok boot' "
              f"{t_all if t_all is None else round(t_all, 1)} ms   ({n} VMs)")
    finally:
        p.close()


if __name__ == "__main__":
    main()
