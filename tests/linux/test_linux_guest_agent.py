"""The real QEMU guest agent (issue 57's proof): the Debian cloud template (scripts/mkimage.sh
debian-cloud, which has Debian's qemu-guest-agent) booted once from its disk by petreld, its
definition with `"guest-agent": {"enabled": true}` and `"petrel": {"shutdown": "agent"}`
(docs/guest-agent.md, docs/manager.md#the-guest-agent), a virtio-net interface on a tap of the
host's, and a cloud-init seed giving it a static address and starting a writer: a loop appending
numbered 64-byte records (the guest's clock in each) to a file of its root file system with a sync
every four, and printing its clock to the serial console every two seconds. In that one boot:

1. the agent answers through petreld (`petrelctl guest NAME ping`, `GET /vms/NAME/guest/info`:
   qemu-guest-agent's version);
2. the guest's addresses from the agent in `GET /vms/NAME`, `GET /list`, `petrelctl list` and
   `info` (the seed's IPv4, the definition's MAC);
3. a backup with `"consistency": "filesystem"` while the writer runs: meta.json says so with
   frozen_ms; on the host, the backup's disk copy (qcow2 on the template) has its root partition
   read out (qemu-img, GPT parsed here), `e2fsck -fn` finds it clean, and the records file read
   with `debugfs` ends at a whole record, numbered from 1 without a gap;
4. the guest's clock after a restore: 20 s after that backup petreld restores it (`petrelctl
   restore`: the disk copies back, a new worker from the backup's state); the guest was saved
   frozen, so the worker thaws it, then sets its clock through the agent (`guest-set-time`):
   the writer's clock on the console, 20 s and more ahead of the backup's last record, is the
   host's within a few seconds;
5. `petrelctl shutdown` through the agent ends the VM: systemd powers it off ("reboot: Power
   down"), no Ctrl-Alt-Del, no destroy.

Like test_linux_diskboot.py: under scripts/nested-kvm.sh or hardware KVM (scripts/pvm-proofs.sh
guestagent), skipped on a PVM host, and only in the extra run (PETREL_LINUX_EXTRA=1). The console
is in build/linux-diskboot-qga.log."""
import json
import os
import re
import shutil
import struct
import subprocess
import time

import pytest

import mgrlib
from diskbootlib import BOOT_TIMEOUT_S, console_of, define, keep, not_on_pvm, require_tools, template
from netlib import wait_for
from test_linux_cloudinit import wait_console

pytestmark = not_on_pvm
NAME = "qga"
TAP = "pqga0"
JAIL_ID = 12345   # petreld's default jail uid and gid: the jailed worker attaches to the tap
MAC = "52:54:00:51:9a:02"
HOST_IP, GUEST_IP = "192.168.213.1", "192.168.213.2"
RECORDS = "/var/lib/petrel-records"
PAD = "r" * 43    # "%08d %010d " + PAD + "\n" = 64 bytes
RECORD = re.compile(rb"(\d{8}) (\d{10}) " + PAD.encode() + rb"\n")
WRITER = f"""#!/bin/bash
# issue 57's proof: numbered 64-byte records with the guest's clock, a sync every four;
# the clock on the console every two seconds
i=0 last=0
while :; do
    i=$((i + 1))
    printf -v now '%(%s)T' -1
    printf '%08d %010d {PAD}\\n' "$i" "$now" >>{RECORDS}
    (( i % 4 == 0 )) && sync {RECORDS}
    if (( now >= last + 2 )); then echo "PETREL-CLK $i $now" >/dev/ttyS0; last=$now; fi
    sleep 0.1
done
"""
LINUX_FS_GUID = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


def tap_up():
    subprocess.run(["ip", "link", "del", TAP], capture_output=True)
    subprocess.run(["ip", "tuntap", "add", "dev", TAP, "mode", "tap", "vnet_hdr", "user", str(JAIL_ID),
                    "group", str(JAIL_ID)], check=True)
    subprocess.run(["ip", "addr", "add", f"{HOST_IP}/24", "dev", TAP], check=True)
    subprocess.run(["ip", "link", "set", TAP, "up"], check=True)


def console_after(path, offset):
    """The console from offset on (all of it when the file was started again)."""
    text = path.read_text(errors="replace").replace("\r", "")
    return text[offset:] if len(text) >= offset else text


def clock_lines(text):
    return [(int(i), int(t)) for i, t in re.findall(r"PETREL-CLK (\d+) (\d+)", text)]


# --- the backup's disk copy, read on the host --------------------------------------------------

def image_opts(copy, base, offset, size):
    """qemu-img's --image-opts for bytes [offset, offset+size) of the qcow2 copy whose backing file
    is base (the copy names it relative to the VM's directory, not the backup's). No locks: the
    running worker holds the template's, which nobody writes."""
    qcow2 = f"driver=qcow2,file.driver=file,file.filename={copy},file.locking=off"
    if base:
        qcow2 += f",backing.driver=qcow2,backing.file.driver=file,backing.file.filename={base},backing.file.locking=off"
    return f"driver=raw,offset={offset},size={size}," + ",".join("file." + kv for kv in qcow2.split(","))


def read_out(copy, base, offset, size, out):
    subprocess.run(["qemu-img", "convert", "--image-opts", image_opts(copy, base, offset, size), "-O", "raw",
                    str(out)], check=True, timeout=600)


def guid(b):
    a, b2, c = struct.unpack_from("<IHH", b)
    return f"{a:08X}-{b2:04X}-{c:04X}-{b[8:10].hex().upper()}-{b[10:16].hex().upper()}"


def root_partition(copy, base, scratch):
    """(offset, size) of the last Linux file-system partition of the copy's GPT (the template's
    ext4 root, grown by cloud-init's growpart)."""
    head = scratch / "head.img"
    read_out(copy, base, 0, 1 << 20, head)
    d = head.read_bytes()
    head.unlink()
    assert d[512:520] == b"EFI PART", "the copy has no GPT"
    lba, n, esz = struct.unpack_from("<QII", d, 512 + 72)
    parts = []
    for i in range(min(n, 128)):
        e = d[lba * 512 + i * esz:lba * 512 + (i + 1) * esz]
        if len(e) == esz and guid(e[:16]) == LINUX_FS_GUID:
            first, last = struct.unpack_from("<QQ", e, 32)
            parts.append((first * 512, (last - first + 1) * 512))
    assert parts, "no Linux partition in the copy's GPT"
    return parts[-1]


def check_backup_disk(copy, base, scratch):
    """e2fsck -fn of the copy's root file system, and the records file as debugfs reads it:
    (records, e2fsck's output)."""
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(copy)], capture_output=True,
                                     text=True, check=True).stdout)
    assert info["format"] == "qcow2", info
    offset, size = root_partition(copy, base if info.get("backing-filename") else None, scratch)
    part = scratch / "root.part"
    read_out(copy, base if info.get("backing-filename") else None, offset, size, part)
    try:
        fsck = subprocess.run(["e2fsck", "-fn", str(part)], capture_output=True, text=True, timeout=600)
        assert fsck.returncode == 0, f"e2fsck -fn: {fsck.returncode}\n{fsck.stdout}\n{fsck.stderr}"
        cat = subprocess.run(["debugfs", "-R", f"cat {RECORDS}", str(part)], capture_output=True, timeout=120)
        assert cat.returncode == 0, cat.stderr
    finally:
        part.unlink()
    return cat.stdout, fsck.stdout


def check_records(data):
    """Every record whole and numbered 1, 2, ...; returns (count, the last record's clock)."""
    assert data, "the records file is empty in the backup"
    assert len(data) % 64 == 0, f"{len(data)} bytes: the file ends inside a record: {data[-100:]!r}"
    n = len(data) // 64
    last = 0
    for k in range(n):
        m = RECORD.fullmatch(data[k * 64:(k + 1) * 64])
        assert m, f"record {k + 1} is not whole: {data[k * 64:(k + 1) * 64]!r}"
        assert int(m.group(1)) == k + 1, f"record {k + 1} is numbered {m.group(1)}"
        last = int(m.group(2))
    return n, last


@pytest.fixture
def tools():
    require_tools()
    missing = [t for t in ("e2fsck", "debugfs", "ip") if not shutil.which(t)]
    if missing or not os.path.exists("/dev/net/tun"):
        pytest.skip(f"missing {', '.join(missing) or '/dev/net/tun'}")


def test_the_real_guest_agent(tools):
    p = mgrlib.Petreld(args=["--shutdown-timeout", "600"]).start()
    tap_up()
    try:
        run_proof(p)
    finally:
        keep(p, NAME)
        p.api("POST", f"/vms/{NAME}/destroy")
        p.close()
        subprocess.run(["ip", "link", "del", TAP], capture_output=True)


def run_proof(p):
    base = template(p)
    user_data = "#cloud-config\n" + json.dumps({
        "write_files": [{"path": "/usr/local/bin/petrel-writer", "permissions": "0755", "content": WRITER}],
        "runcmd": [["systemd-run", "--unit=petrel-writer", "/usr/local/bin/petrel-writer"],
                   ["sh", "-c", "echo PETREL-QGA $(systemctl is-active qemu-guest-agent) end >/dev/ttyS0"]]})
    net = {"version": 2, "ethernets": {"nic0": {"match": {"macaddress": MAC}, "set-name": "eth0",
                                                  "addresses": [f"{GUEST_IP}/24"]}}}
    define(p, base, NAME, "disk", user_data,
           fc={"guest-agent": {"enabled": True, "timeout_ms": 10000},
               "network-interfaces": [{"iface_id": "eth0", "host_dev_name": TAP, "guest_mac": MAC}]},
           petrel={"shutdown": "agent"}, cloud_init={"network_config": net})
    console = console_of(p, NAME)
    t0 = time.monotonic()
    r = p.ctl("start", NAME, timeout=300)
    assert r.returncode == 0, r.stderr + p.log.read_text()[-2000:]
    m, _ = wait_console(console, r"PETREL-QGA (\S+) end", BOOT_TIMEOUT_S)
    print(f"{NAME}: runcmd's line after {time.monotonic() - t0:.0f} s (qemu-guest-agent {m.group(1)})")
    wait_console(console, r"PETREL-CLK \d+ \d+", 120)

    # 1. the agent answers
    wait_for(lambda: p.ctl("guest", NAME, "ping").returncode == 0, 120, "an answer to guest ping", every=2)
    rtts = []
    for _ in range(10):
        t = time.monotonic()
        st, body = p.api("GET", f"/vms/{NAME}/guest/ping")
        rtts.append((time.monotonic() - t) * 1000)
        assert st == 200, body
    st, info = p.api("GET", f"/vms/{NAME}/guest/info")
    assert st == 200, info
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", info["version"]), info
    names = {c["name"] for c in info["commands"]}
    assert {"guest-fsfreeze-freeze", "guest-fsfreeze-thaw", "guest-set-time", "guest-shutdown"} <= names
    r = p.ctl("guest", NAME, "info")
    assert r.returncode == 0 and info["version"] in r.stdout, r.stdout + r.stderr
    print(f"qemu-guest-agent {info['version']}: ping through petreld {sorted(rtts)[5]:.1f} ms "
          f"(median of 10, max {max(rtts):.1f})")

    # 2. the guest's addresses from the agent (the watcher asks every 10 s)
    def addresses():
        _, vms = p.api("GET", "/list")
        return GUEST_IP in [a for v in vms if v["name"] == NAME for a in v.get("guest_addresses", [])]
    wait_for(addresses, 90, "the agent's addresses in /list", every=1)
    _, vm = p.api("GET", f"/vms/{NAME}")
    eth0 = [i for i in vm["guest_interfaces"] if i.get("mac", "").lower() == MAC]
    assert eth0, vm["guest_interfaces"]
    assert any(a["address"] == GUEST_IP and a["prefix"] == 24 for a in eth0[0]["addresses"]), eth0
    # asked now (the watcher's answer may predate the link-local address)
    st, now = p.api("GET", f"/vms/{NAME}/guest/interfaces")
    assert st == 200, now
    eth0 = [i for i in now["interfaces"] if i.get("mac", "").lower() == MAC]
    assert eth0 and any(a["address"].startswith("fe80:") for a in eth0[0]["addresses"]), now
    r = p.ctl("list")
    assert f"{GUEST_IP}(agent)" in r.stdout, r.stdout
    r = p.ctl("info", NAME)
    assert GUEST_IP in r.stdout and MAC in r.stdout.lower(), r.stdout
    r = p.ctl("guest", NAME, "interfaces")
    assert r.returncode == 0 and f"{GUEST_IP}/24" in r.stdout, r.stdout + r.stderr
    print(f"agent's interfaces: {json.dumps(vm['guest_interfaces'])}")

    # 3. a file-system consistent backup while the writer writes, checked on the host
    clk_before = wait_for(lambda: [c for c in clock_lines(console.read_text(errors="replace")) if c[0] >= 50],
                          120, "50 records", every=1)
    st, body = p.api("POST", f"/vms/{NAME}/backup", {"name": "b1", "consistency": "filesystem"}, timeout=900)
    t_backup = time.time()
    assert st in (200, 201), body
    bdir = p.root / "snap" / f"{NAME}.backups" / "b1"
    meta = json.loads((bdir / "meta.json").read_text())
    assert meta["consistency"] == "filesystem" and meta["frozen_ms"] >= 0, meta
    frozen = re.findall(r"guest agent: (\d+) file system\(s\) frozen", console.read_text(errors="replace"))
    assert frozen and int(frozen[-1]) >= 1, console.read_text(errors="replace")[-3000:]
    assert re.search(r"guest agent: file systems frozen for \d+ ms", console.read_text(errors="replace"))
    copy = bdir / "root.img"
    data, fsck = check_backup_disk(copy, base, p.root)
    count, stamp = check_records(data)
    print(f"backup b1: {frozen[-1]} file systems frozen for {meta['frozen_ms']} ms; e2fsck -fn clean "
          f"({fsck.strip().splitlines()[-1]}); {count} whole records, the last from {stamp}")
    assert clk_before and count >= clk_before[-1][0] - 1, (count, clk_before[-1])
    # the writer went on after the thaw
    wait_for(lambda: any(i > count + 10 for i, _ in clock_lines(console.read_text(errors="replace"))), 60,
             "the writer after the backup", every=1)

    # 4. the guest's clock after a restore 20 s later
    time.sleep(max(0.0, t_backup + 20 - time.time()))
    offset = len(console.read_text(errors="replace").replace("\r", ""))
    t = time.monotonic()
    r = p.ctl("restore", NAME, "b1", timeout=900)
    assert r.returncode == 0, r.stderr + p.log.read_text()[-2000:]
    print(f"restore: {time.monotonic() - t:.1f} s")

    def a_right_clock():
        lines = clock_lines(console_after(console, offset))
        return lines and abs(lines[-1][1] - time.time()) <= 4 and lines
    lines = wait_for(a_right_clock, 120, "the guest's clock set right after the restore", every=0.5)
    after = console_after(console, offset)
    # the backup's guest was saved frozen: the restored worker thawed it, then set its clock
    assert re.search(r"guest agent: thawed the \d+ file system\(s\) the snapshot was taken frozen", after), \
        after[-3000:]
    assert "the guest's clock set from the host's" in after, after[-3000:]
    assert lines[0][0] <= count + 40, f"the restored writer is not the backup's: {lines[0]} after {count}"
    # the restored guest ran a few seconds since its state was saved, the host's clock 20 s and
    # more: its clock came forward from the host's (kvmclock itself continues from the saved value)
    assert lines[-1][1] - stamp >= 15, (stamp, lines)
    print(f"after the restore: the guest's first clock line {lines[0]} ({lines[0][1] - time.time():+.0f} s "
          f"off now), its clock set by the agent: {lines[-1]}")

    # 5. shutdown through the agent
    t = time.monotonic()
    r = p.ctl("shutdown", NAME, timeout=700)
    took = time.monotonic() - t
    vm_log = (p.state / "logs" / f"{NAME}.log").read_text(errors="replace")
    assert r.returncode == 0, r.stderr + vm_log[-2000:]
    text = console.read_text(errors="replace")
    assert "guest agent: asked the guest to powerdown" in text, text[-3000:]
    assert "reboot: Power down" in text, text[-3000:]
    assert re.search(r"systemd-shutdown|System Power Off|Power-Off|Powering off", text), text[-3000:]
    assert "sending Ctrl-Alt-Del" not in vm_log and "destroying it" not in vm_log, vm_log[-2000:]
    assert p.api("GET", f"/vms/{NAME}")[1]["state"] == "shut off"
    print(f"shutdown through the agent: {took:.0f} s to 'reboot: Power down'")
