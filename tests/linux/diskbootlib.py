"""What tests/linux/test_linux_diskboot.py and test_linux_kernel_update.py share (issue 55): the
Debian cloud template (scripts/mkimage.sh debian-cloud) as a petreld VM on a qcow2 overlay of its
own, booting from its disk or through a firmware, with a cloud-init section; Debian's generic
kernel package and a disk that carries it; the skip on a PVM host."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import fwlib
import mgrlib
from test_linux_cloudinit import PASSWD, USER, ed25519_key

ROOT = Path(__file__).resolve().parents[2]
LOG = mgrlib.BUILD / "linux-diskboot.log"
BOOT_TIMEOUT_S = float(os.environ.get("PETREL_CLOUDINIT_BOOT_TIMEOUT", 20 * 60))
OVERLAY_GIB = 3
LABEL = "petrelkern"

not_on_pvm = pytest.mark.skipif(Path("/sys/module/kvm_pvm").exists() and not os.environ.get("PETREL_CLOUDINIT_ON_PVM"),
                                reason="a full systemd and cloud-init boot takes tens of minutes on a PVM host "
                                       "(emulated ring 0); run under scripts/nested-kvm.sh or on hardware KVM "
                                       "(scripts/pvm-proofs.sh)")


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


def define(p, base, name, boot, user_data, extra_disk=None, fc=None, petrel=None, cloud_init=None):
    """A VM of the template on a qcow2 overlay of its own, booting by `boot` ("disk" or a firmware),
    with a cloud-init section (a user, the test's user_data); extra_disk a read-only second drive;
    fc, petrel and cloud_init: further keys of the definition, its petrel section and its
    cloud-init section."""
    disk = p.root / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", str(disk),
                    f"{OVERLAY_GIB}G"], check=True, cwd=p.root)
    key, _ = ed25519_key("tester@petrel")
    section = {"users": [{"name": USER, "ssh_authorized_keys": [key], "passwd": PASSWD, "sudo": True,
                          "shell": "/bin/bash"}], "user_data": user_data, "hostname": f"{name}.example.org",
               **(cloud_init or {})}
    drives = [{"drive_id": "root", "path_on_host": str(disk), "format": "qcow2", "is_root_device": boot == "disk",
               "is_read_only": False}]
    if boot != "disk":
        drives[0]["boot_index"] = 0
    if extra_disk:
        drives.append({"drive_id": "kern", "path_on_host": str(extra_disk), "is_root_device": False,
                       "is_read_only": True})
    doc = {"boot-source": {"from_disk": True} if boot == "disk" else {"firmware": boot},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 1024},
           "drives": drives, **(fc or {}), "petrel": {"name": name, "cloud-init": section, **(petrel or {})}}
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
