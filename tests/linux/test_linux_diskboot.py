"""The Debian cloud template booted from its disk by petreld, with its cloud-init seed (issue 55).

petreld starts the template (scripts/mkimage.sh debian-cloud, on a qcow2 overlay of its own) with
`"boot-source": {"from_disk": true}`: petrel's worker reads the GPT, the ext4 root and GRUB's
grub.cfg through its own qcow2 layer and boots the cloud kernel without a firmware or a boot
loader; the VM has a cloud-init section (a host name, a user). The guest's own output proves it:
a runcmd writes `uname -r` and `hostname` to the serial console (the template's cloud kernel, the
kernel's own "Linux version" banner, the host name cloud-init set), and getty prints
"HOST login: ".

Full systemd and cloud-init boots take many minutes where guest ring 0 is emulated: this runs
under scripts/nested-kvm.sh or on hardware KVM (scripts/pvm-proofs.sh clouddisk), skips on a PVM
host (PETREL_CLOUDINIT_ON_PVM=1 runs it there anyway), and only in the extra run
(PETREL_LINUX_EXTRA=1). The console is in build/linux-diskboot-dboot.log."""
import json
import re
import time

import mgrlib
from diskbootlib import BOOT_TIMEOUT_S, console_of, define, keep, not_on_pvm, require_tools, template
from test_linux_cloudinit import wait_console

pytestmark = not_on_pvm
REPORT = "echo PETREL-DB uname $(uname -r) host $(hostname) iid $(cat /var/lib/cloud/data/instance-id) end >/dev/ttyS0"


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
