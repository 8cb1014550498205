# SPDX-License-Identifier: Apache-2.0
"""Firmware-boot helpers shared by tests/firmware and bench/firmware.py: the disk images of
scripts/mkimage.sh, QEMU 7.2 with Debian's SeaBIOS or OVMF as the oracle, and a console reader
that times the markers of a boot (the firmware -> GRUB's "petrel-grub: menu" -> the test guest's
first line -> its exit)."""
import os
import pathlib
import selectors
import shutil
import signal
import subprocess
import time

import petrel_test

ROOT = petrel_test.ROOT
MKIMAGE = ROOT / "scripts" / "mkimage.sh"
SEABIOS = pathlib.Path("/usr/share/seabios/bios-256k.bin")
# Debian's ovmf: the code (read-only flash) and the template every VM's variables start from.
OVMF_CODE = pathlib.Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = pathlib.Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
GRUB_EFI_LIB = pathlib.Path("/usr/lib/grub/x86_64-efi")
QEMU = "qemu-system-x86_64"
GRUB_MARKER = "petrel-grub: menu"   # grub.cfg of every mkimage.sh target echoes it
GUEST_CMDLINE = "petrel-test-token=1234 expect_boot=bzimage expect_rsdp=1"

# isa-debug-exit: a write of V ends QEMU with status (V << 1) | 1, so the guests' pass (0) is 1
# and fail (1) is 3. One port wide: the guests' null port 0xf5 (tests/guests/lib/guest.h) is
# the next one, and iosize=4 would turn a null write into an exit.
DEBUG_EXIT = "isa-debug-exit,iobase=0xf4,iosize=1"


def missing_tools(qemu=True):
    """What the image tests need and this machine lacks (scripts/setup.sh installs it all);
    qemu=False: what petrel's firmware tests need (the images and SeaBIOS)."""
    need = [QEMU] * qemu + ["grub-mkimage", "grub-mkrescue", "xorriso", "mformat", "sfdisk", "mkfs.ext2"]
    out = [t for t in need if not shutil.which(t)]
    if not SEABIOS.exists():
        out.append(str(SEABIOS))
    if not pathlib.Path("/usr/lib/grub/i386-pc/boot.img").exists():
        out.append("grub-pc-bin")
    return out


def missing_efi_tools():
    """What the UEFI images and their QEMU oracle need beyond missing_tools() (scripts/setup.sh
    installs ovmf and grub-efi-amd64-bin)."""
    out = [str(p) for p in (OVMF_CODE, OVMF_VARS) if not p.exists()]
    if not (GRUB_EFI_LIB / "normal.mod").exists():
        out.append("grub-efi-amd64-bin")
    return out


# s for OVMF -> GRUB -> a test guest: nested KVM (in TCG) takes minutes; PETREL_OVMF_BOOT_LIMIT overrides
OVMF_BOOT_LIMIT = float(os.environ.get("PETREL_OVMF_BOOT_LIMIT", "600"))


def ovmf_vars(path):
    """A fresh copy of OVMF's variable template at PATH (one per VM: OVMF writes to it); returns PATH."""
    path = pathlib.Path(path)
    shutil.copyfile(OVMF_VARS, path)
    return path


def image_dir():
    """The cache of mkimage.sh: $PETREL_IMAGE_DIR, else <build>/images."""
    build = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
    return pathlib.Path(os.environ.get("PETREL_IMAGE_DIR", build / "images"))


def mkimage(target, out, *args, timeout=120, env=None, opts=()):
    """scripts/mkimage.sh [OPTS...] TARGET OUT ARGS...; returns (seconds, its stderr)."""
    t0 = time.monotonic()
    r = subprocess.run(["bash", str(MKIMAGE), "--cache", str(image_dir()), *map(str, opts), target, str(out),
                        *map(str, args)],
                       capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, f"mkimage.sh {target} failed ({r.returncode}):\n{r.stderr[-3000:]}"
    return time.monotonic() - t0, r.stderr


def qemu_argv(image, accel="tcg", mem=256, cpus=1, fmt="raw", firmware="seabios", vars=None, cdrom=False):
    """QEMU's pc machine booting IMAGE from a virtio-blk-pci disk (cdrom: from an IDE CD-ROM, El
    Torito) through SeaBIOS or, firmware="ovmf", through OVMF as QEMU's pc machine runs it: two
    pflash units, the code read-only and `vars` (a copy of the template: ovmf_vars) writable;
    the serial console on stdout, the debug-exit port for the guests' verdict."""
    cpu = []
    if accel == "kvm":
        # A PVM host refuses the IA32_ARCH_CAPABILITIES MSR QEMU sets for "-cpu host" (as bench/run.py).
        cpu = ["-cpu", "host,-arch-capabilities" if os.path.exists("/sys/module/kvm_pvm") else "host"]
    if firmware == "seabios":
        fw = ["-bios", str(SEABIOS)]
    elif firmware == "ovmf":
        if vars is None:
            raise ValueError("OVMF writes its variables: give vars=ovmf_vars(PATH)")
        fw = ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
              "-drive", f"if=pflash,format=raw,unit=1,file={vars}"]
    else:
        raise ValueError(f"firmware {firmware!r}: seabios or ovmf")
    disk = ["-drive", f"file={image},format={fmt},if=none,id=d,readonly=on",
            "-device", "ide-cd,drive=d" if cdrom else "virtio-blk-pci,drive=d"]
    return [QEMU, "-accel", accel, *cpu, "-machine", "pc", "-m", str(mem), "-smp", str(cpus), *fw,
            "-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio", *disk, "-device", DEBUG_EXIT]


def petrel_argv(disks, cpus=1, mem=256, extra=(), petrel=None, firmware="seabios", vars=None):
    """petrel booting its disks (IMAGE[,ro][,boot=N] each, virtio-blk on PCI) through Debian's
    SeaBIOS or OVMF (firmware="ovmf"; vars: its variables file, --firmware-vars, else petrel's
    private copy of the template), the serial console on stdout, the debug-exit port for the
    guests' verdict (petrel ends with the status the guest wrote)."""
    petrel = petrel or pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build")) / "petrel"
    argv = [str(petrel), "run", "--firmware", firmware, "--debug-exit", "--mem", str(mem), "--cpus", str(cpus)]
    if vars is not None:
        argv += ["--firmware-vars", str(vars)]
    for d in disks:
        argv += ["--disk", str(d)]
    return argv + [str(a) for a in extra]


def qemu_guest_status(rc):
    """The value the guest wrote to the debug-exit port, from QEMU's exit status (None: QEMU
    ended otherwise, e.g. 0 when the guest reset under -no-reboot)."""
    return rc >> 1 if rc > 0 and rc & 1 else None


class Boot:
    """One VM run: its console, the seconds from start to the first line holding each marker,
    its exit status and run time."""

    def __init__(self, out, marks, rc, seconds):
        self.out, self.marks, self.rc, self.seconds = out, marks, rc, seconds

    def __repr__(self):
        return f"Boot(rc={self.rc}, {self.seconds:.2f} s, marks={self.marks})"


def run_timed(argv, markers, timeout=60.0, stop_at=None):
    """Run argv (a VMM with the console on stdout), note when each of `markers` first appears;
    at `stop_at` (a marker) or after `timeout` s the process is killed (rc None on a timeout)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    buf, marks, rc = b"", {}, None
    try:
        while True:
            left = t0 + timeout - time.monotonic()
            if left <= 0:
                break
            if not sel.select(min(left, 0.5)):
                if p.poll() is not None:
                    break
                continue
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            now = time.monotonic() - t0
            text = buf.decode(errors="replace")
            for m in markers:
                if m not in marks and m in text:
                    marks[m] = now
            if stop_at and stop_at in marks:
                break
        if stop_at in marks or time.monotonic() - t0 >= timeout:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        else:
            rc = p.wait(timeout=max(1.0, t0 + timeout - time.monotonic()))
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        sel.close()
        p.stdout.close()
    return Boot(buf.decode(errors="replace"), marks, rc, time.monotonic() - t0)


class Logged:
    """A VMM run in the background with its console (stdout) and stderr in files, its stdin a
    pipe: for tests that watch the console or the VM's files while it runs, and kill it."""

    def __init__(self, argv, out, err, env=None):
        self.out_path, self.err_path = pathlib.Path(out), pathlib.Path(err)
        with open(self.out_path, "wb") as o, open(self.err_path, "wb") as e:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=o, stderr=e, env=env,
                                         start_new_session=True)
        self.argv = argv

    def out(self):
        return self.out_path.read_bytes().decode(errors="replace").replace("\r", "")

    def err(self):
        return self.err_path.read_bytes().decode(errors="replace")

    def describe(self):
        return (f"$ {' '.join(map(str, self.argv))}\nexit status {self.proc.returncode}\n--- console ---\n"
                f"{self.out()[-4000:]}\n--- stderr ---\n{self.err()[-4000:]}")

    def wait_for(self, text, timeout):
        """Until `text` is on the console (True), the process ended or the time is up (False)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.out():
                return True
            if self.proc.poll() is not None:
                return text in self.out()
            time.sleep(0.2)
        return False

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def wait(self, timeout):
        """Its exit status; killed (and None) when it is still running after `timeout` s."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc.stdin.close()
