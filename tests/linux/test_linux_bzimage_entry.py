"""The Debian bzImage through the two 64-bit entries other tests no longer take (issue 15).

By default petrel decompresses a bzImage's payload on the host and, as Debian's kernel has a
PVH note, enters it through PVH: that is what test_linux_api.py exercises. This test
boots the same bzImage + initramfs with
  --kernel-decompress host-linux64  petrel decompresses, then startup_64 of the vmlinux at its
                                    link address with a zero page (RSI), and
  --kernel-decompress guest         the classic path: the kernel's own decompressor (slow where
                                    guest ring 0 is emulated: about a minute more),
and checks that each reaches /init, echoes the typed line and powers off, and that petrel
logged the path it took. Needs /dev/kvm (tests/linux/conftest.py); the console goes to
build/linux-bzimage-entry.log.
"""

import os
import time
from pathlib import Path

import pytest

from linuxlib import assert_healthy, run_console, spawn

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "guest" / "vmlinuz"
INITRD = ROOT / "guest" / "initramfs.cpio"
PETREL = Path(os.environ.get("PETREL", ROOT / "build" / "petrel"))
LOG = ROOT / "build" / "linux-bzimage-entry.log"
INPUT_LINE = "hello-entry"

# linuxguest.CMDLINE without its disk check (no --disk here).
CMDLINE = ("console=ttyS0 panic=-1 nokaslr tsc=reliable no_timer_check i8042.noaux 8250.nr_uarts=1 "
           "random.trust_cpu=on cryptomgr.notests mitigations=off nowatchdog audit=0 "
           "initcall_blacklist=init_kprobe_trace,init_dynamic_event,init_uprobe_trace,cubictcp_register,"
           "bpf_rstat_kfunc_init,bpf_key_sig_kfuncs_init,kfunc_init,bpf_prog_test_run_init,"
           "bpf_tcp_ca_kfunc_init,crypto_kdf108_init,blake2s_mod_init petrel.test=1")

EXPECT_LOG = {
    "host-linux64": "entering the kernel at its 64-bit entry (startup_64)",
    "guest": "booting it the classic way",
}


@pytest.mark.parametrize("how", ["host-linux64", "guest"])
def test_bzimage_boots_through_a_64bit_entry(how):
    missing = [str(p) for p in (KERNEL, INITRD) if not p.is_file()]
    if missing:
        pytest.skip(f"default guest missing ({', '.join(missing)}): run scripts/fetch-guest.sh")
    assert PETREL.is_file(), f"{PETREL} not built"
    argv = [str(PETREL), "run", "--kernel", str(KERNEL), "--initrd", str(INITRD),
            "--cmdline", CMDLINE, "--cpus", "1", "--mem", "512", "--level", "Info",
            "--kernel-decompress", how]
    LOG.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(LOG, "ab") as log:
        proc, con = spawn(argv, log, cwd=ROOT)
        run = run_console(proc, con, start, INPUT_LINE)
        log.write(f"\n# petrel exit status {proc.returncode} after {run.elapsed:.1f}s\n".encode())
    print(f"{how}: /init after {run.init - start if run.init else -1:.1f}s, done after {run.elapsed:.1f}s")
    where = assert_healthy(run, proc, con, LOG)
    assert any(EXPECT_LOG[how] in l for l in con.stderr_lines), \
        f"petrel did not log the {how} path" + (where or "")
    assert run.echo == INPUT_LINE, f"guest echoed {run.echo!r}" + (where or "")
    assert run.rc == 0, f"petrel exited {run.rc}" + (where or "")
