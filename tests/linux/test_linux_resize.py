"""The real Linux guest resized while it runs (issue 14), started from the snapshot
test_linux_api.py took at the guest's console prompt instead of a boot of its own: that VM has 2
vCPUs and 512 MiB, a virtio-balloon, a 512 MiB virtio-mem region and room for a third vCPU, and
the guest loaded its own virtio_balloon and virtio_mem modules. The snapshot is loaded through
the API; the typed line makes /init (scripts/guest-init, check_resize) print MemTotal and each
change it sees, and the host drives the steps by what it prints:

- PATCH /balloon to 32 MiB: MemTotal shrinks by it; petrel's RSS does not grow by it (the guest
  zeroes each page it hands to the balloon, init_on_alloc, and petrel gives them back to the
  host); PATCH /balloon to 0: MemTotal comes back.
- PATCH /hotplug/memory to 128 MiB (one Linux memory block): GET shows it plugged and MemTotal grows by it; PATCH to 0:
  GET shows 0, MemTotal goes back, and petrel's RSS has not grown meanwhile.
- PATCH /hotplug/vcpu to 3: CPU 2 appears (ACPI processor hot-plug), the guest onlines it and
  offlines it again; PATCH to 2: Linux ejects it and it leaves the present mask.

Then the guest uses its devices as after any restore and powers off. The sizes are small on
purpose: on a PVM host, where guest ring 0 is emulated, the guest spent ~1.5 s per MiB
inflating the balloon and ~0.7 s per MiB offlining the unplugged memory (64 and 256 MiB took
95 s and 186 s of a 376 s test, 2026-11-27); what the test proves does not grow with them. Runs after
test_linux_api.py (file order); fails if that test left no snapshot. Console in
build/linux-resize.log."""
import shutil
import tempfile
import time
from pathlib import Path

import linuxguest
import linuxlib
import test_linux_api as linux_api

LOG = linuxguest.ROOT / "build" / "linux-resize.log"
LINE = "restored-to-resize+resize"
BALLOON_MIB, PLUG_MIB = 32, 128  # scripts/guest-init: RESIZE_BALLOON, RESIZE_PLUG
CPUS, MAX = linux_api.CPUS, linux_api.MAX_CPUS


class Host:
    """The host's side of the exchange: one step per thing the guest printed."""

    def __init__(self, api, pid):
        self.api, self.pid, self.seen = api, pid, {}

    def step(self, key, what):
        if key not in self.seen:
            self.seen[key] = what()

    def get(self, path):
        return self.api.get(path, check=path != "/hotplug/vcpu").json or {}

    def patch(self, path, body):
        return self.api.patch(path, body, check=path != "/hotplug/vcpu").status

    def rss(self):
        return linuxlib.rss_kib(self.pid)

    def tick(self, run):
        s, v = self.seen, run.value
        if v("resize-ready"):
            self.step("rss-before", self.rss)
            self.step("inflate", lambda: self.patch("/balloon", {"amount_mib": BALLOON_MIB}))
        if v("resize-inflated-kib"):
            self.step("rss-inflated", self.rss)
            self.step("balloon-inflated", lambda: self.get("/balloon"))
            self.step("deflate", lambda: self.patch("/balloon", {"amount_mib": 0}))
        if v("resize-deflated-kib"):
            self.step("plug", lambda: self.patch("/hotplug/memory", {"requested_size_mib": PLUG_MIB}))
        if "plug" in s and "plugged" not in s and self.get("/hotplug/memory").get("plugged_size_mib") == PLUG_MIB:
            s["plugged"] = time.time()
        if v("resize-plugged-kib"):
            self.step("rss-plugged", self.rss)
            self.step("unplug", lambda: self.patch("/hotplug/memory", {"requested_size_mib": 0}))
        if "unplug" in s and "unplugged" not in s and self.get("/hotplug/memory").get("plugged_size_mib") == 0:
            s["unplugged"] = time.time()
            s["rss-unplugged"] = self.rss()
        if v("vcpu-ready"):
            self.step("add", lambda: self.patch("/hotplug/vcpu", {"vcpu_count": CPUS + 1}))
            self.step("after-add", lambda: self.get("/hotplug/vcpu"))
        if v("vcpu-offlined"):
            self.step("remove", lambda: self.patch("/hotplug/vcpu", {"vcpu_count": CPUS}))
        if "remove" in s and "removed" not in s and self.get("/hotplug/vcpu").get("plugged_vcpu_count") == CPUS:
            s["removed"] = time.time()


def test_linux_balloon_memory_and_vcpu_resized_after_a_restore(netpeer):
    linux_api.require_snapshot()
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-resize-", dir="/tmp"))
    try:
        with linux_api.loaded_at_prompt(netpeer, work, LOG) as (proc, con, api, t0):
            host = Host(api, proc.pid)
            # The resizable devices came back with the VM.
            assert api.get("/balloon").json["amount_mib"] == 0
            assert api.get("/hotplug/memory").json["total_size_mib"] == linux_api.VMEM_MIB
            assert host.get("/hotplug/vcpu") == {"max_vcpu_count": MAX, "vcpu_count": CPUS,
                                                 "plugged_vcpu_count": CPUS}
            run = linuxlib.run_console(proc, con, t0, LINE, on_tick=host.tick, restored=True,
                                       checks_timeout=40 * 60)
        seen = host.seen
        print(f"resized and powered off in {run.elapsed:.1f} s; host side: {seen}")
        where = linuxlib.assert_goes_on_from_the_prompt(run, proc, con, LOG, LINE, after="resizing")
        where += f"\nhost side: {seen}"
        mem = lambda key: int(run.value(f"resize-{key}-kib", "0"))
        before = mem("mem-before")

        # the balloon
        assert seen.get("inflate") == 204 and seen.get("deflate") == 204, where
        assert seen["balloon-inflated"].get("amount_mib") == BALLOON_MIB, where
        assert before - mem("inflated") >= BALLOON_MIB * 1024 * 9 // 10, \
            f"MemTotal {before} -> {mem('inflated')} KiB with the balloon at {BALLOON_MIB} MiB" + where
        assert before - mem("deflated") <= BALLOON_MIB * 1024 // 10, \
            f"MemTotal {before} -> {mem('deflated')} KiB with the balloon back at 0" + where
        assert seen["rss-inflated"] - seen["rss-before"] < BALLOON_MIB * 1024 // 2, \
            "petrel kept the pages the guest put in the balloon" + where

        # virtio-mem
        assert seen.get("plug") == 204 and seen.get("unplug") == 204, where
        assert "plugged" in seen, f"GET /hotplug/memory never showed {PLUG_MIB} MiB plugged" + where
        assert mem("plugged") - before >= PLUG_MIB * 1024 * 9 // 10, \
            f"MemTotal {before} -> {mem('plugged')} KiB with {PLUG_MIB} MiB plugged" + where
        assert mem("unplugged") - before <= PLUG_MIB * 1024 // 10, \
            f"MemTotal {before} -> {mem('unplugged')} KiB after the unplug" + where
        assert "unplugged" in seen, "GET /hotplug/memory never showed 0 MiB plugged" + where
        assert seen["rss-unplugged"] <= seen["rss-plugged"] + 16 * 1024, "unplugged memory stayed on the host" + where

        # a third vCPU, in and out
        assert run.value("vcpu-possible") == f"0-{MAX - 1}", where
        assert run.value("vcpu-present-before") == f"0-{CPUS - 1}", where
        assert seen.get("add") == 204, where
        assert seen["after-add"] == {"max_vcpu_count": MAX, "vcpu_count": CPUS + 1,
                                     "plugged_vcpu_count": CPUS + 1}, where
        assert run.value("vcpu-online-added") == f"0-{CPUS}", f"CPU {CPUS} did not come up" + where
        assert run.value("vcpu-cpuinfo-added") == str(CPUS + 1), where
        assert run.value("vcpu-online-offlined") == f"0-{CPUS - 1}", where
        assert seen.get("remove") == 204, where
        assert run.value("vcpu-present-after") == f"0-{CPUS - 1}", f"CPU {CPUS} was not ejected" + where
        assert "removed" in seen, f"GET /hotplug/vcpu never showed {CPUS} plugged vCPUs" + where
    finally:
        shutil.rmtree(work, ignore_errors=True)
