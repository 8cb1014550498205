"""A kernel update inside the guest and a reboot, from the disk and through firmware (issue 55).

Two VMs of the Debian cloud template at once (diskbootlib): one boots from its disk
(`from_disk`), one through SeaBIOS + the template's GRUB. Each gets a second disk (an ext4 file
system labelled "petrelkern", made here with mkfs.ext4 -d) holding Debian's generic kernel
package (linux-image-*-amd64: another flavour, so another release string than the template's
-cloud-amd64), cached beside the images. A script the seed's write_files installs, run by
runcmd, does what an administrator does: GRUB_DEFAULT=saved, `dpkg -i` the package (its postinst
builds the initramfs, ext4 being a module in the generic kernel it joins the template's
MODULES=list, and runs update-grub through Debian's kernel hook: the test checks on the console
that it found the new kernel), `grub-set-default` of the new kernel's entry (in the "Advanced
options" submenu: "SUB>ENTRY"), then `reboot`. petrel's reset keeps the VM
(docs/user-guide.md#guest-reboot-and-reset); on the direct path the reset reads the disk again.
A bootcmd (every boot) writes `uname -r` to the console: the first boot's names the cloud
kernel, the second the generic one; the direct path's log has a second "boot from disk" line
naming the new kernel, and the second boot reaches its login prompt.

Full systemd and cloud-init boots take many minutes where guest ring 0 is emulated: this runs
under scripts/nested-kvm.sh or on hardware KVM (scripts/pvm-proofs.sh kernelupdate), skips on a
PVM host (PETREL_CLOUDINIT_ON_PVM=1 runs it there anyway), and only in the extra run
(PETREL_LINUX_EXTRA=1). Each of its two waits may take PETREL_KERNEL_UPDATE_TIMEOUT seconds (1 h,
3 h on a PVM host). The consoles are in build/linux-diskboot-ku*.log."""
import json
import os
import re
import subprocess
import time

import mgrlib
from diskbootlib import (LABEL, console_of, define, generic_kernel_deb, keep, kernel_disk, not_on_pvm,
                         require_tools, template)
from test_linux_cloudinit import wait_console

pytestmark = not_on_pvm
# Each wait (the first boot through dpkg -i and update-grub; the reboot to the login prompt) may
# take this long: under nested KVM (guest exits through QEMU's emulated SVM) update-grub alone took
# minutes, with both VMs sharing one L1 CPU; a PVM host emulates guest ring 0 slower still.
ON_PVM = os.path.exists("/sys/module/kvm_pvm")
KU_TIMEOUT_S = float(os.environ.get("PETREL_KERNEL_UPDATE_TIMEOUT", 3 * 3600 if ON_PVM else 3600))
UPDATE = "/usr/local/sbin/petrel-kernel-update"

# What an administrator runs to move a VM to another kernel: install it, make it GRUB's default,
# reboot. Once only (a marker file): should cloud-init's runcmd run again after the reboot, it
# does nothing. Its output goes to the console, so a failure shows in the test's log.
UPDATE_SCRIPT = f"""#!/bin/sh
set -eu
[ -e /var/lib/petrel-kernel-updated ] && exit 0
exec >/dev/ttyS0 2>&1
trap '[ $? = 0 ] || echo "PETREL-KU failed"' EXIT
echo "PETREL-KU start $(uname -r)"
t0=$(cut -d. -f1 /proc/uptime)
mkdir -p /mnt/kern
mount -o ro -L {LABEL} /mnt/kern
deb=$(ls /mnt/kern/linux-image-*.deb | head -n1)
v=$(dpkg-deb -f "$deb" Package | sed 's/^linux-image-//')
# The template's initramfs holds a list of modules (MODULES=list): the generic kernel's ext4 is a
# module (the cloud kernel's is built in), so the root's file system joins the list.
grep -qx ext4 /etc/initramfs-tools/modules || echo ext4 >>/etc/initramfs-tools/modules
# GRUB's default is the entry grubenv names, set before the install: the package's postinst runs
# update-grub (Debian's /etc/kernel/postinst.d/zz-update-grub), which then writes grub.cfg with
# it; a second update-grub would write the same file again (minutes where guest exits are slow).
echo GRUB_DEFAULT=saved >/etc/default/grub.d/60-default.cfg
[ -x /etc/kernel/postinst.d/zz-update-grub ] || {{ echo "PETREL-KU no update-grub hook"; exit 1; }}
dpkg -i "$deb"
umount /mnt/kern
t1=$(cut -d. -f1 /proc/uptime)
grep -qF 'set default="${{saved_entry}}"' /boot/grub/grub.cfg || {{ echo "PETREL-KU grub.cfg has no saved default"; exit 1; }}
# The new kernel's entry, as update-grub wrote it: "SUBMENU>ENTRY" (not its recovery entry).
entry=$(awk -F"'" -v v="$v" '/^submenu /{{s=$2}} /^[ \\t]+menuentry / && index($2, v) && $2 !~ /recovery/ {{print s ">" $2; exit}}' /boot/grub/grub.cfg)
[ -n "$entry" ] || {{ echo "PETREL-KU no entry for $v"; exit 1; }}
grub-set-default "$entry"
touch /var/lib/petrel-kernel-updated
sync
echo "PETREL-KU timing dpkg+update-grub $((t1 - t0)) s"
echo "PETREL-KU installed $v default $(grub-editenv list | tr '\\n' ' ')end"
reboot
"""
BOOTCMD = "echo PETREL-BOOT uname $(uname -r) end >/dev/ttyS0"


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
                m, text = wait_console(console, r"PETREL-KU (?:installed (\S+) default (.*?)end|failed)", KU_TIMEOUT_S)
                assert m.group(1), f"{name}: the update script failed:\n{text[-4000:]}"
                t_inst = time.monotonic()
                took = re.search(r"PETREL-KU timing dpkg\+update-grub (\d+) s", text)
                # dpkg -i ran update-grub (its kernel hook), which found the new kernel
                run = text[text.index("PETREL-KU start"):]
                assert "Generating grub configuration file" in run and f"Found linux image: /boot/vmlinuz-{new}" in run, \
                    run[-3000:]
                # the second boot's bootcmd line, then its login prompt after it
                pat = rf"{boot_line}[\s\S]*PETREL-KU installed[\s\S]*{boot_line}[\s\S]*\n{name} login: "
                _, text = wait_console(console, pat, KU_TIMEOUT_S)
                t_login = time.monotonic()
            finally:
                keep(p, name)
            installed, env = m.groups()
            unames = re.findall(boot_line, text)
            print(f"{name} ({boot}): installed {installed} after {t_inst - t0:.0f} s (in the guest dpkg -i with its "
                  f"initramfs and update-grub {took.group(1) if took else '?'} s; grubenv: {env.strip()}); "
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
