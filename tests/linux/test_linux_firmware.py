"""Real Linux through the firmware (issue 52): `--firmware seabios` boots what is on the disk.

1. Debian's cloud kernel and the project's initramfs on a GRUB disk (scripts/mkimage.sh
   grub-disk): SeaBIOS -> GRUB (its marker on the serial line) -> the kernel with GRUB's command
   line -> /init, which runs its checks (linuxlib's protocol: PETREL-INIT, the environment
   check, the disk as /dev/vda), echoes the typed line and powers off through ACPI; petrel
   exits 0.
2. The whole installed Debian disk (mkimage.sh debian): SeaBIOS -> its GRUB -> its kernel and
   initramfs -> systemd -> the login prompt on the serial console. Paused there and
   snapshotted (a copy of the disk kept beside the snapshot), it goes on: root logs in with the
   image's password and runs a command; then it migrates live to another petrel (PUT
   /migration/receive and /migration/send over a Unix socket, the disk shared) and runs a
   command there. Last, a new petrel loads the snapshot (drive_overrides: the kept copy) and
   root logs in at the restored login prompt and runs a command. One boot for all of it.

A firmware-booted kernel gets only GRUB's command line: petrel adds its PVM options
(src/vm/vm.c PVM_CMDLINE) only to a command line it builds itself, so on a PVM host they are
written into GRUB's here. Both use the other Linux tests' options that cut boot work; Debian's
also "petrel.lean rw systemd.getty_auto=0" (mkimage.sh: systemd skips what a serial login does
not need).

Each boot costs many minutes where guest ring 0 is emulated: extra run only
(PETREL_LINUX_EXTRA=1, scripts/linux-extra.sh). Consoles in build/linux-firmware-*.log."""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import apilib
import fwlib
import linuxguest
import linuxlib

ROOT = linuxguest.ROOT
PETREL = linuxguest.PETREL
LOGS = ROOT / "build"
INPUT_LINE = "hello-firmware"
MEM_MIB = 512
# Where guest ring 0 is emulated the Debian boot takes tens of minutes (docs/firmware.md).
DEBIAN_BOOT_TIMEOUT_S = float(os.environ.get("PETREL_DEBIAN_BOOT_TIMEOUT", 60 * 60))
STEP_TIMEOUT_S = 15 * 60        # a login or a command, once the system is up
MIGRATION_TIMEOUT_S = 10 * 60
DEBIAN_PROMPT = r"root@petrel-debian:[^\n#]*# "
DEBIAN_LOGIN = "petrel-debian login: "
DEBIAN_PASSWORD = "petrel"      # root's, scripts/mkimage.sh DEBIAN_PASSWORD


def pvm_host():
    return Path("/sys/module/kvm_pvm").exists()


def pvm_options():
    """petrel's PVM options, as src/vm/vm.c defines them (one definition), on a PVM host; else none."""
    if not pvm_host():
        return []
    m = re.search(r'#define PVM_CMDLINE "([^"]*)"', (ROOT / "src" / "vm" / "vm.c").read_text())
    assert m, "PVM_CMDLINE not found in src/vm/vm.c"
    return m.group(1).split()


def boot_options():
    """linuxguest.CMDLINE's options that shorten a boot (not its console, which GRUB's line of the
    Debian disk has, nor the test protocol of the project's /init)."""
    return [a for a in linuxguest.CMDLINE if a != "console=ttyS0" and not a.startswith("petrel.")]


def need_images():
    missing = fwlib.missing_tools()
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (scripts/setup.sh)")
    assert PETREL.is_file(), f"{PETREL} not built"


def grub_seen(con):
    """Host time of GRUB's marker on the console, or None."""
    return next((t for t, line in con.lines if fwlib.GRUB_MARKER in line), None)


def test_linux_initramfs_through_seabios_and_grub(tmp_path):
    """The project's guest (Debian's cloud kernel + initramfs) booted from a GRUB disk."""
    linuxguest.missing_guest()
    need_images()
    cmdline = ["console=ttyS0", *boot_options(), "petrel.test=1", *pvm_options()]
    image = tmp_path / "grub.img"
    fwlib.mkimage("grub-disk", image, linuxguest.KERNEL, linuxguest.INITRD, " ".join(cmdline))
    log_path = LOGS / "linux-firmware-initramfs.log"
    argv = [str(PETREL), "run", "--firmware", "seabios", "--disk", str(image), "--cpus", "2",
            "--mem", str(MEM_MIB), "--level", "Info"]
    start = time.time()
    with open(log_path, "wb") as log:
        proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
        run = linuxlib.run_console(proc, con, start, INPUT_LINE)
        log.write(f"\n# petrel exit status {proc.returncode} after {run.elapsed:.1f}s\n".encode())
    grub = grub_seen(con)
    print(f"GRUB after {grub - start if grub else -1:.1f}s, /init after "
          f"{run.init - start if run.init else -1:.1f}s, powered off after {run.elapsed:.1f}s")
    where = linuxlib.assert_healthy(run, proc, con, log_path)
    assert grub is not None and grub < run.init, "GRUB's marker did not come before /init" + where
    assert run.value("disk") == "vda", f"the GRUB disk is not /dev/vda: {run.value('disk')}" + where
    assert run.echo == INPUT_LINE, f"guest echoed {run.echo!r}" + where
    assert run.done is not None and run.rc == 0, f"petrel exited {run.rc}" + where


class Guest:
    """A petrel with an API socket whose console is a Debian serial login: waits for patterns in
    what it printed since the last match, types lines."""

    def __init__(self, name, work):
        self.name = name
        self.sock = work / f"{name}.sock"
        self.log_path = LOGS / f"linux-firmware-debian-{name}.log"
        self.log = open(self.log_path, "wb")
        self.proc, self.con = linuxlib.spawn([str(PETREL), "--api-sock", str(self.sock), "--level", "Info"],
                                             self.log, cwd=ROOT)
        linuxlib.wait_for_socket(self.sock, self.proc, self.con)
        self.api = apilib.Client(self.sock)
        self.seen = 0       # console characters already matched
        self.text = ""

    def where(self):
        return f"\n--- {self.name} (log {self.log_path}) ---\n{self.con.tail(60)}"

    def expect(self, pattern, timeout):
        """The first match of pattern in the console after the last one (prompts end without a
        newline: the partial line counts); fails on a deadline, a broken guest or petrel's exit."""
        end = time.time() + timeout
        while True:
            self.text = "\n".join(line for _, line in self.con.lines) + "\n" + self.con.pending_text()
            m = re.compile(pattern).search(self.text, self.seen)
            if m:
                self.seen = m.end()
                return m
            broken = linuxlib.BROKEN.search(self.text, self.seen)
            assert not broken, f"{self.name}: guest broke: {broken.group(0)}" + self.where()
            assert time.time() < end, f"{self.name}: no {pattern!r} within {timeout:.0f}s" + self.where()
            assert self.con.open_streams(), \
                f"{self.name}: petrel exited {self.proc.poll()} before {pattern!r}" + self.where()
            self.con.pump(1.0)

    def type(self, line):
        self.proc.stdin.write(f"{line}\n".encode())
        self.proc.stdin.flush()

    def login(self):
        """root at the login prompt (shown already), to a shell prompt."""
        self.type("root")
        self.expect(r"Password: ", STEP_TIMEOUT_S)
        self.type(DEBIAN_PASSWORD)
        self.expect(DEBIAN_PROMPT, STEP_TIMEOUT_S)

    def command(self, tag):
        """Run a command at the shell prompt; returns the kernel release it printed."""
        self.type(f"uname -r; echo petrel-{tag}-$((6*7))")
        # bash's bracketed-paste codes may precede the first line: no anchor at its start
        m = self.expect(rf"(\d+\.\d+\S*-cloud-amd64)\s*\n(?:.*\n)*?.*petrel-{tag}-42\s*\n", STEP_TIMEOUT_S)
        self.expect(DEBIAN_PROMPT, STEP_TIMEOUT_S)
        return m.group(1)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.con.pump(0.5)
        self.log.close()
        self.api.close()


def wait_migration(api, timeout):
    end = time.time() + timeout
    while time.time() < end:
        st = api.get("/migration", check=False).json
        if st.get("state") in ("completed", "failed"):
            return st
        time.sleep(0.5)
    return api.get("/migration", check=False).json


def test_debian_disk_logs_in_snapshots_restores_and_migrates(tmp_path):
    """The installed Debian disk, one boot: login prompt, snapshot, login and a command, a live
    migration and a command on the destination, the snapshot restored and a login there."""
    need_images()
    if os.geteuid() != 0 or not shutil.which("mmdebstrap"):
        pytest.skip("the Debian disk needs root and mmdebstrap (scripts/mkimage.sh debian)")
    extra = [*boot_options(), "petrel.lean", "rw", "systemd.getty_auto=0", *pvm_options()]
    disk = tmp_path / "debian.img"
    secs, _ = fwlib.mkimage("debian", disk, " ".join(extra), timeout=3600)
    print(f"mkimage debian: {secs:.1f} s")
    snap_state, snap_mem, snap_disk = tmp_path / "vm.state", tmp_path / "vm.mem", tmp_path / "snap-disk.img"
    guests = []
    try:
        src = Guest("source", tmp_path)
        guests.append(src)
        api = src.api
        assert api.put("/boot-source", {"firmware": "seabios"}).status == 204
        assert api.put("/machine-config", {"vcpu_count": 2, "mem_size_mib": MEM_MIB}).status == 204
        assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(disk), "is_root_device": False,
                                        "is_read_only": False, "boot_index": 0}).status == 204
        t0 = time.time()
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        src.expect(re.escape(fwlib.GRUB_MARKER), 10 * 60)
        t_grub = time.time()
        src.expect(re.escape(DEBIAN_LOGIN), DEBIAN_BOOT_TIMEOUT_S)
        t_login = time.time()
        print(f"Debian: GRUB after {t_grub - t0:.0f}s, login prompt after {t_login - t0:.0f}s")

        # At the login prompt: the snapshot, and the disk as it is then (the source goes on writing).
        assert api.patch("/vm", {"state": "Paused"}).status == 204
        r = api.put("/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(snap_state),
                                         "mem_file_path": str(snap_mem)}, check=False)
        assert r.status == 204, f"snapshot create: {r}" + src.where()
        subprocess.run(["cp", "--sparse=always", str(disk), str(snap_disk)], check=True)
        assert api.patch("/vm", {"state": "Resumed"}).status == 204

        t = time.time()
        src.login()
        release = src.command("source")
        print(f"logged in and ran a command in {time.time() - t:.0f}s: kernel {release}")

        # Live migration to another petrel; the disk is shared (the same file).
        dst = Guest("destination", tmp_path)
        guests.append(dst)
        url = f"unix:{tmp_path / 'mig.sock'}"
        assert dst.api.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        t = time.time()
        assert api.put("/migration/send", {"destination_url": url}, check=False).status == 204
        st = wait_migration(dst.api, MIGRATION_TIMEOUT_S)
        assert st.get("state") == "completed", \
            f"destination: {st}; source: {api.get('/migration', check=False).json}" + src.where() + dst.where()
        try:
            src_rc = src.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            src_rc = None
        assert src_rc == 0, f"the source did not exit 0 after the switch: {src_rc}" + src.where()
        print(f"migrated in {time.time() - t:.1f}s: downtime {st.get('downtime_ms')} ms, "
              f"{st.get('bytes_sent')} bytes")
        assert dst.command("destination") == release
        dst.close()

        # The snapshot at the login prompt, in a new petrel, on the disk as it was then.
        rst = Guest("restored", tmp_path)
        guests.append(rst)
        t = time.time()
        linuxlib.load_snapshot(rst.api, snap_state, snap_mem,
                               drive_overrides=[{"drive_id": "disk", "path_on_host": str(snap_disk)}])
        rst.login()
        assert rst.command("restored") == release
        print(f"restored, logged in and ran a command in {time.time() - t:.0f}s")
    finally:
        for g in guests:
            g.close()
