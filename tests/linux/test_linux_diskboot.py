"""The Debian cloud template booted from its disk, and a kernel update inside the guest (issue 55).

1. petreld starts the template (scripts/mkimage.sh debian-cloud, on a qcow2 overlay of its own)
   with `"boot-source": {"from_disk": true}`: petrel's worker reads the GPT, the ext4 root and
   GRUB's grub.cfg through its own qcow2 layer and boots the cloud kernel without a firmware or a
   boot loader; the VM has a cloud-init section (a host name, a user). The guest's own output
   proves it: a runcmd writes `uname -r` and `hostname` to the serial console (the template's
   cloud kernel, the kernel's own "Linux version" banner, the host name cloud-init set), then
   getty's "HOST login: ".
2. A kernel update and a reboot, on the direct path and through SeaBIOS + the template's GRUB
   (two VMs at once). Each gets a second disk (an ext4 file system labelled "petrelkern", made
   here with mkfs.ext4 -d) holding Debian's generic kernel package (linux-image-*-amd64: another
   flavour, so another release string than the template's -cloud-amd64), cached beside the
   images. A script the seed's write_files installs, run by runcmd, does what an administrator
   does: `dpkg -i` the package (its postinst builds the initramfs; ext4 is a module in the
   generic kernel, so it joins the template's MODULES=list), GRUB_DEFAULT=saved, `update-grub`,
   `grub-set-default` of the new kernel's entry (in the "Advanced options" submenu: "SUB>ENTRY"),
   then `reboot`. petrel's reset keeps the VM (docs/user-guide.md#guest-reboot-and-reset); on the
   direct path the reset reads the disk again. A bootcmd (every boot) writes `uname -r` to the
   console: the first boot's names the cloud kernel, the second the generic one; the direct
   path's log has a second "boot from disk" line naming the new kernel, and the second boot
   reaches its login prompt.

Full systemd and cloud-init boots take many minutes where guest ring 0 is emulated: this runs
under scripts/nested-kvm.sh or on hardware KVM (scripts/pvm-proofs.sh), skips on a PVM host
(PETREL_CLOUDINIT_ON_PVM=1 runs it there anyway), and only in the extra run
(PETREL_LINUX_EXTRA=1). The consoles are in build/linux-diskboot-NAME.log."""
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import fwlib
import mgrlib
from test_linux_cloudinit import PASSWD, USER, ed25519_key, wait_console

ROOT = Path(__file__).resolve().parents[2]
LOG = mgrlib.BUILD / "linux-diskboot.log"
BOOT_TIMEOUT_S = float(os.environ.get("PETREL_CLOUDINIT_BOOT_TIMEOUT", 20 * 60))
OVERLAY_GIB = 3
LABEL = "petrelkern"
UPDATE = "/usr/local/sbin/petrel-kernel-update"

pytestmark = pytest.mark.skipif(Path("/sys/module/kvm_pvm").exists() and not os.environ.get("PETREL_CLOUDINIT_ON_PVM"),
                                reason="a full systemd and cloud-init boot takes tens of minutes on a PVM host "
                                       "(emulated ring 0); run under scripts/nested-kvm.sh or on hardware KVM "
                                       "(scripts/pvm-proofs.sh)")

# What an administrator runs to move a VM to another kernel: install it, make it GRUB's default,
# reboot. Once only (a marker file): should cloud-init's runcmd run again after the reboot, it
# does nothing. Its output goes to the console, so a failure shows in the test's log.
UPDATE_SCRIPT = f"""#!/bin/sh
set -eu
[ -e /var/lib/petrel-kernel-updated ] && exit 0
exec >/dev/ttyS0 2>&1
trap '[ $? = 0 ] || echo "PETREL-KU failed"' EXIT
echo "PETREL-KU start $(uname -r)"
mkdir -p /mnt/kern
mount -o ro -L {LABEL} /mnt/kern
deb=$(ls /mnt/kern/linux-image-*.deb | head -n1)
v=$(dpkg-deb -f "$deb" Package | sed 's/^linux-image-//')
# The template's initramfs holds a list of modules (MODULES=list): the generic kernel's ext4 is a
# module (the cloud kernel's is built in), so the root's file system joins the list.
grep -qx ext4 /etc/initramfs-tools/modules || echo ext4 >>/etc/initramfs-tools/modules
dpkg -i "$deb"
umount /mnt/kern
echo GRUB_DEFAULT=saved >/etc/default/grub.d/60-default.cfg
update-grub
# The new kernel's entry, as update-grub wrote it: "SUBMENU>ENTRY" (not its recovery entry).
entry=$(awk -F"'" -v v="$v" '/^submenu /{{s=$2}} /^[ \\t]+menuentry / && index($2, v) && $2 !~ /recovery/ {{print s ">" $2; exit}}' /boot/grub/grub.cfg)
[ -n "$entry" ] || {{ echo "PETREL-KU no entry for $v"; exit 1; }}
grub-set-default "$entry"
touch /var/lib/petrel-kernel-updated
sync
echo "PETREL-KU installed $v default $(grub-editenv list | tr '\\n' ' ')end"
reboot
"""
BOOTCMD = "echo PETREL-BOOT uname $(uname -r) end >/dev/ttyS0"
REPORT = "echo PETREL-DB uname $(uname -r) host $(hostname) iid $(cat /var/lib/cloud/data/instance-id) end >/dev/ttyS0"


def generic_kernel_deb():
    """Debian's generic kernel package (linux-image-VERSION-amd64), from the image cache
    (PETREL_IMAGE_DIR or build/images, debs/), else downloaded there from Debian's archive with
    apt-get download (the version of the project's guest, as scripts/fetch-guest-generic.sh)."""
    cache = fwlib.image_dir() / "debs"
    found = sorted(cache.glob("linux-image-*-amd64_*.deb"))
    found = [d for d in found if "-cloud-" not in d.name and "-dbg" not in d.name]
    if found:
        return found[-1]
    if not shutil.which("apt-get"):
        pytest.skip("no generic kernel package in the image cache and no apt-get")
    kver = (ROOT / "guest" / "kernel-version").read_text().strip() if (ROOT / "guest" / "kernel-version").exists() else ""
    pkg = f"linux-image-{kver.removesuffix('-cloud-amd64')}-amd64" if kver else "linux-image-amd64"
    cache.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and shutil.which("chown"):
        subprocess.run(["chown", "_apt", str(cache)], capture_output=True)   # apt downloads as _apt
    r = subprocess.run(["apt-get", "download", "-q", pkg], cwd=cache, capture_output=True, text=True, timeout=600)
    found = [d for d in sorted(cache.glob("linux-image-*-amd64_*.deb")) if "-cloud-" not in d.name]
    if r.returncode or not found:
        pytest.skip(f"cannot fetch {pkg} from Debian's archive: {r.stderr[-500:]}")
    return found[-1]


def kernel_disk(path, deb):
    """An ext4 file system labelled LABEL holding the package, made without a mount."""
    stage = path.with_suffix(".d")
    stage.mkdir()
    shutil.copy(deb, stage / deb.name)
    size_mib = (deb.stat().st_size >> 20) + 48
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", LABEL, "-d", str(stage), str(path), f"{size_mib}M"], check=True)
    shutil.rmtree(stage)


def require_tools():
    if os.geteuid() != 0 or not shutil.which("mmdebstrap"):
        pytest.skip("the template needs root and mmdebstrap (scripts/mkimage.sh debian-cloud)")
    missing = fwlib.missing_tools(qemu=False) + [t for t in ("qemu-img", "mformat", "mkfs.ext4") if not shutil.which(t)]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (scripts/setup.sh)")


def define(p, base, name, boot, user_data, extra_disk=None):
    """A VM of the template on a qcow2 overlay of its own, booting by `boot` ("disk" or a firmware),
    with a cloud-init section (a user, the test's user_data); extra_disk a read-only second drive."""
    disk = p.root / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", str(disk),
                    f"{OVERLAY_GIB}G"], check=True, cwd=p.root)
    key, _ = ed25519_key("tester@petrel")
    section = {"users": [{"name": USER, "ssh_authorized_keys": [key], "passwd": PASSWD, "sudo": True,
                          "shell": "/bin/bash"}], "user_data": user_data, "hostname": f"{name}.example.org"}
    drives = [{"drive_id": "root", "path_on_host": str(disk), "format": "qcow2", "is_root_device": boot == "disk",
               "is_read_only": False}]
    if boot != "disk":
        drives[0]["boot_index"] = 0
    if extra_disk:
        drives.append({"drive_id": "kern", "path_on_host": str(extra_disk), "is_root_device": False,
                       "is_read_only": True})
    doc = {"boot-source": {"from_disk": True} if boot == "disk" else {"firmware": boot},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 1024},
           "drives": drives, "petrel": {"name": name, "cloud-init": section}}
    st, vm = p.api("POST", "/vms", doc)
    assert st == 201, vm
    return vm


def template(p):
    base = p.root / "debian-cloud.qcow2"
    secs, _ = fwlib.mkimage("debian-cloud", base, timeout=3600)
    print(f"mkimage debian-cloud: {secs:.1f} s")
    return base


def console_of(p, name):
    return p.state / "logs" / f"{name}.worker.log"


def keep(p, name):
    c = console_of(p, name)
    if c.exists():
        shutil.copyfile(c, LOG.with_name(f"linux-diskboot-{name}.log"))


def test_the_template_boots_from_its_disk_with_its_seed():
    """The direct path to the login prompt: the guest's kernel and the host name cloud-init set."""
    require_tools()
    p = mgrlib.Petreld().start()
    try:
        base = template(p)
        user_data = "#cloud-config\n" + json.dumps({"runcmd": [["sh", "-c", REPORT]]})
        vm = define(p, base, "dboot", "disk", user_data)
        t0 = time.monotonic()
        r = p.ctl("start", "dboot", timeout=300)
        assert r.returncode == 0, r.stderr + p.log.read_text()[-2000:]
        console = console_of(p, "dboot")
        try:
            m, text = wait_console(console, r"PETREL-DB uname (\S+) host (\S+) iid (\S+) end", BOOT_TIMEOUT_S)
            t_run = time.monotonic()
            _, text = wait_console(console, r"\ndboot login: ", BOOT_TIMEOUT_S)
            t_login = time.monotonic()
        finally:
            keep(p, "dboot")
        uname, host, iid = m.groups()
        print(f"dboot (from_disk): runcmd's line after {t_run - t0:.0f} s, 'dboot login:' after {t_login - t0:.0f} s; "
              f"uname -r {uname}")
        line = re.search(r"boot from disk: drive root partition (\d+) \(ext4\): (\S+) .*?entry '([^']*)'", text)
        assert line, text[-3000:]
        print(line.group(0))
        assert line.group(2) in ("/vmlinuz", "/boot/vmlinuz") or uname in line.group(2), line.group(0)
        assert uname.endswith("-cloud-amd64"), uname
        banner = re.search(r"Linux version (\S+)", text)
        assert banner and banner.group(1) == uname, "the kernel's own banner names another release"
        assert "SeaBIOS" not in text and "petrel-grub: menu" not in text, "a firmware ran"
        assert host == "dboot" and iid == vm["uuid"]
        assert p.api("POST", "/vms/dboot/destroy")[0] == 200
    finally:
        p.close()


def test_a_kernel_update_and_a_reboot_run_the_new_kernel():
    """From the disk and through SeaBIOS + GRUB: dpkg -i, update-grub, grub-set-default, reboot."""
    require_tools()
    deb = generic_kernel_deb()
    p = mgrlib.Petreld().start()
    try:
        base = template(p)
        new = subprocess.run(["dpkg-deb", "-f", str(deb), "Package"], capture_output=True, text=True,
                             check=True).stdout.strip().removeprefix("linux-image-")
        cfg = {"bootcmd": [["sh", "-c", BOOTCMD]],
               "write_files": [{"path": UPDATE, "permissions": "0755", "content": UPDATE_SCRIPT}],
               "runcmd": [[UPDATE]]}
        user_data = "#cloud-config\n" + json.dumps(cfg)
        vms = {"kudisk": "disk", "kubios": "seabios"}
        for name, boot in vms.items():
            kd = p.root / f"{name}-kern.img"
            kernel_disk(kd, deb)
            define(p, base, name, boot, user_data, kd)
        t0 = time.monotonic()
        for name in vms:
            r = p.ctl("start", name, timeout=300)
            assert r.returncode == 0, r.stderr + p.log.read_text()[-2000:]
        boot_line = r"PETREL-BOOT uname (\S+) end"
        for name, boot in vms.items():
            console = console_of(p, name)
            try:
                m, text = wait_console(console, r"PETREL-KU (?:installed (\S+) default (.*?)end|failed)", BOOT_TIMEOUT_S)
                assert m.group(1), f"{name}: the update script failed:\n{text[-4000:]}"
                t_inst = time.monotonic()
                # the second boot's bootcmd line, then its login prompt after it
                pat = rf"{boot_line}[\s\S]*PETREL-KU installed[\s\S]*{boot_line}[\s\S]*\n{name} login: "
                _, text = wait_console(console, pat, BOOT_TIMEOUT_S)
                t_login = time.monotonic()
            finally:
                keep(p, name)
            installed, env = m.groups()
            unames = re.findall(boot_line, text)
            print(f"{name} ({boot}): installed {installed} after {t_inst - t0:.0f} s (grubenv: {env.strip()}); "
                  f"booted {unames}; login after the reboot at {t_login - t0:.0f} s")
            assert installed == new
            assert "saved_entry=" in env and new in env, env
            assert len(unames) >= 2, unames
            before, after = unames[0], unames[-1]
            assert before.endswith("-cloud-amd64"), before
            assert after == new and after != before and not after.endswith("-cloud-amd64"), unames
            banners = re.findall(r"Linux version (\S+)", text)
            assert banners[0] == before and banners[-1] == after, banners
            assert p.api("GET", f"/vms/{name}")[1].get("state") == "running"
            disk_lines = re.findall(r"boot from disk: drive root partition \d+ \(ext4\): (\S+) .*?entry '([^']*)'", text)
            if boot == "disk":
                # read at the start and again at the guest's reset: the second names the new kernel
                assert len(disk_lines) >= 2, disk_lines
                assert new not in disk_lines[0][0] and new in disk_lines[-1][0], disk_lines
                print(f"{name}: boot from disk, first {disk_lines[0]}, after the reset {disk_lines[-1]}")
            else:
                assert not disk_lines
                assert "petrel-grub: menu" in text, "the template's GRUB did not run"   # its grub.cfg's marker
        for name in vms:
            assert p.api("POST", f"/vms/{name}/destroy")[0] == 200
    finally:
        p.close()
