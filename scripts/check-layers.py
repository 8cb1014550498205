#!/usr/bin/env python3
"""Check that every include in src/ points down a layer (docs/development.md, "Layers").

A file in folder A may include its own folder, the folders of the layers below A, and the
sideways arrows listed in SIDEWAYS. Inside src/api/ the files have layers of their own (the
transport: the API on src/http's server, the front, one file per resource, the core): a resource file calls no function of
another resource file, and the core calls none of either (it reaches them through the hook
tables in resources.c). src/manager/ (petreld) has its layers too (MANAGER_LAYERS: main, routes,
jobs, verbs, start, worker, jail filling, the worker client, the inventory, helpers and base): a
file calls only the layers below it.

Arrows known to point the wrong way and not fixed yet are listed in KNOWN (file, folder): the
check fails on any other one, and on a KNOWN entry that no longer exists (drop it from the
list). struct vm is opaque above src/vm: a file outside it that includes vm/vm_internal.h (its
definition) or reaches into one (`vm->`) fails; the layers above call the verbs of vm/vm.h.
petreld (manager/) never includes src/vm: its record of a VM is struct mgr_vm.
src/kvm is the one folder that talks to /dev/kvm: an ioctl() outside it that names a
KVM request, or any ioctl() in a file outside it that includes KVM's headers, fails too (use or
add a verb in src/kvm). Exit status 0: clean; 1: a violation (each printed on a line).

Usage: scripts/check-layers.py [SRC_DIR]    (default: src/ next to this script's folder)
"""
import pathlib
import re
import sys

# Bottom up; folders on one line are one layer. The programs petreld (manager/), petrelctl
# (ctl/) and the jailer (jail/) sit above petrel itself; vhost/ (the vhost-user front end a
# device drives its back end with) is a transport beside block/ and net/; vsock/ is
# virtio-vsock's back end (the connection mux over Unix sockets), beside net/ (taps).
# http/ (the server petrel's API and petreld serve on, the client petreld and petrelctl call
# with) needs only util/, as seccomp/ and kvm/ do: it is in their layer.
LAYERS = [
    ["util"],
    ["seccomp", "kvm", "http"],
    ["memory"],
    ["config"],
    ["arch", "boot"],
    ["bus", "block", "net", "vsock", "mmds", "vhost"],
    ["diskboot"],   # a boot from the disk: reads through block/, hands boot/'s loader its result
    ["devices"],
    ["vcpu"],
    ["vm"],
    ["ui"],
    ["ha", "migration", "snapshot", "agent"],  # agent: the guest agent's client (docs/guest-agent.md)
    ["cli", "api"],
    ["manager", "jail"],
    ["ctl"],
]

# Arrows allowed inside one layer: (from, to).
SIDEWAYS = {
    ("boot", "arch"),          # the loaders use the x86 layout (zero page, e820)
    ("ha", "migration"),       # replication streams with migration's wire format
    ("ha", "snapshot"),        # ... and the snapshot's state encoding
    ("migration", "snapshot"), # a migration carries the snapshot's state encoding
    ("cli", "api"),            # Firecracker's CLI starts the API's controller
}

# Lower folders a folder must still not include: a device or a back end takes its own
# parameter struct, not the definition's (config/ is what the API and the CLI parse).
NOT_BELOW = {
    "devices": {"config"},
    "block": {"config"}, "diskboot": {"config"}, "net": {"config"}, "vsock": {"config"}, "mmds": {"config"}, "bus": {"config"},
    # petreld drives workers through their API: it has a record of its own (struct mgr_vm)
    "manager": {"vm"},
}

# Not fixed yet (issue 38): (file under src/, folder it includes, or "vm->" / "struct vm" for a
# file that reaches into struct vm). Empty since the E1000 took its own parameter struct and the
# layers above src/vm went through its verbs; keep it that way.
KNOWN = set()

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z0-9_]+)/', re.M)


def rank(folder):
    for i, layer in enumerate(LAYERS):
        if folder in layer:
            return i
    return None


def include_violations(src):
    found = set()
    for path in sorted(src.rglob("*.[ch]")):
        rel = path.relative_to(src)
        if len(rel.parts) < 2:
            continue  # src/main.c: the program's entry, above everything
        home = rel.parts[0]
        for m in INCLUDE.finditer(path.read_text(errors="replace")):
            to = m.group(1)
            if to == home or not (src / to).is_dir():
                continue
            a, b = rank(home), rank(to)
            if a is None or b is None:
                found.add((str(rel), to, f"{home} or {to} has no layer in LAYERS"))
            elif b > a or (b == a and (home, to) not in SIDEWAYS):
                found.add((str(rel), to, f"{home} (layer {a}) includes {to} (layer {b})"))
            elif to in NOT_BELOW.get(home, ()):
                why = "its own record, struct mgr_vm" if home == "manager" else "its own parameters"
                found.add((str(rel), to, f"{home} must not include {to} ({why})"))
    return found


# src/api/: which layer each file is in, top down. A function defined in one layer may be
# called from the layers above it only.
API_LAYERS = [
    ("transport", re.compile(r"^serve\.c$")),  # the API on src/http's server
    ("front", re.compile(r"^(routes|vm_config|resources)\.c$")),
    ("router", re.compile(r"^router\.c$")),
    ("resource", re.compile(r"^ctl_\w+\.c$")),
    ("core", re.compile(r"^(core\w*|metrics)\.c$")),
]
DEFINITION = re.compile(r"^(?!static\b)[a-z][\w \*]*?\b([a-z_]\w*)\(", re.M)


def folder_calls(folder, strip):
    """Every call in the .c files of folder and its subfolders of a function another of them
    defines: (file, function, the file that defines it; files named by their path in folder).
    strip: the comments' pattern."""
    files = {str(p.relative_to(folder)): re.sub(strip, "", p.read_text(), flags=re.S)
             for p in sorted(folder.rglob("*.c"))}
    defined = {}
    for name, text in files.items():
        for m in DEFINITION.finditer(text):
            if m.group(1) not in ("if", "while", "for", "switch", "return", "sizeof"):
                defined.setdefault(m.group(1), name)
    for name, text in files.items():
        for fn, home in defined.items():
            if home != name and re.search(r"\b" + fn + r"\s*\(", text):
                yield name, fn, home


def layer_violations(src, folder, layers, strip, who):
    """A call in src/folder of a function of a layer above the caller's, or of its own layer
    where that layer's files may not call each other. layers: (name, a file's test, may call
    its own layer), top down; who: how a caller is named in the message."""
    path = src / folder
    if not path.is_dir():
        return set()

    def layer(name):
        return next((i for i, (_, test, _) in enumerate(layers) if test(name)), None)
    found = set()
    for name in sorted(str(p.relative_to(path)) for p in path.rglob("*.c")):
        if layer(name) is None:
            found.add((f"{folder}/{name}", folder, f"has no layer in {who[0]}"))
    for name, fn, home in folder_calls(path, strip):
        me, them = layer(name), layer(home)
        if me is None or them is None:
            continue
        if them < me or (them == me and not layers[me][2]):
            found.add((f"{folder}/{name}", folder, f"calls {fn}() of {home} ({layers[them][0]}), "
                       f"{who[1].format(layers[me][0])} may call only the layers below it"))
    return found


def api_violations(src):
    # a resource calls no other resource; the router reaches the front only through the route
    # table (router_int.h)
    layers = [(name, pattern.match, name not in ("resource",)) for name, pattern in API_LAYERS]
    return layer_violations(src, "api", layers, r"/\*.*?\*/", ("API_LAYERS", "a {} file"))


# src/manager/ (petreld): which layer each file is in, top down. A function of one layer may be
# called from the layers above it only; inside a layer only the helpers and the base call each
# other (a verb calls no other verb: what two verbs share goes down, to start.c or below). The
# layers are described in docs/development.md ("petreld's layers").
MANAGER_LAYERS = [
    ("main", {"main.c"}, False),
    ("routes", {"routes.c", "peer/tls_listen.c"}, False),
    ("web", {"web/web_api.c"}, False),
    ("net routes", {"net/net_routes.c", "backup_routes.c"}, False),
    ("adopt", {"adopt.c"}, False),
    ("supervise", {"supervise.c"}, False),
    ("net service", {"net/net_service.c"}, False),
    ("backup jobs", {"backup_jobs.c"}, False),
    ("jobs", {"jobs.c"}, False),
    ("verbs", {"backup.c", "clone.c", "define.c", "lifecycle.c", "machine.c", "peer/migrate.c", "peer/migrate_in.c",
               "peer/migration_status.c", "replica.c", "restore.c", "snapshot.c", "web/web_console.c", "web/web_vnc.c", "net/net_verbs.c",
               "from_image.c", "guest.c"}, False),
    ("batch", {"batch.c"}, False),
    ("start", {"start.c", "peer/peer.c", "net/net_run.c"}, False),
    ("worker", {"worker.c"}, False),
    ("jail", {"jail_fill.c", "net/net_reserve.c", "net/net_taps.c", "cloudinit/ci_drive.c"}, False),
    ("records", {"runstate.c", "stats.c", "console.c", "console_input.c", "worker_events.c"}, False),
    ("worker client", {"worker_wait.c"}, False),
    ("inventory", {"vm.c", "definitions.c", "net/net_inventory.c", "images.c"}, False),
    ("helpers", {"fsutil.c", "jail_backing.c", "overlay.c", "image_body.c", "uefi_vars.c", "peer/auth.c", "clone_body.c", "route_walk.c", "replica_args.c", "peer/peer_parse.c",
                 "peer/migrate_figures.c", "web/web_gate.c", "web/web_session.c", "web/web_static.c", "web/web_users.c", "web/web_ws.c", "web/web_rfb.c",
                 "net/nft.c", "net/guards.c", "net/leases.c", "net/net_def.c", "net/net_link.c", "net/net_table.c",
                 "net/dnsmasq.c", "net/net_addrs.c", "net/net_guard_addrs.c", "cloudinit/cidata.c", "run_tool.c",
                 "backup_verify.c", "backup_jobdef.c", "backup_chain.c", "backup_flatten.c",
                 "jail_bitmap.c"},
     True),
    ("base", {"util.c", "defs.c", "definition.c", "partition.c", "events.c", "net/net_iface.c", "cloudinit/ci_def.c", "cloudinit/seed.c",
              "backup_calendar.c", "backup_prune.c", "test_clock.c"}, True),
]


def manager_violations(src):
    layers = [(name, files.__contains__, own) for name, files, own in MANAGER_LAYERS]
    return layer_violations(src, "manager", layers, r"/\*.*?\*/|//[^\n]*",
                            ("MANAGER_LAYERS", "a file of petreld's {}"))


# KVM ioctls belong in src/kvm (kvm.h, kvm_vcpu.h, kvm_irq.h): the one place to read what
# petrel asks of KVM, and to change it.
IOCTL = re.compile(r"\b(?:ioctl\s*\(|syscall\s*\(\s*(?:SYS_ioctl|__NR_ioctl)\b)")
KVM_HEADER = re.compile(r'^\s*#\s*include\s+(?:<linux/kvm\.h>|"kvm/)', re.M)


def kvm_ioctl_violations(src):
    found = set()
    for path in sorted(src.rglob("*.[ch]")):
        rel = path.relative_to(src)
        if rel.parts[0] == "kvm":
            continue
        raw = path.read_text(errors="replace")
        text = re.sub(r"/\*.*?\*/|//[^\n]*", "", raw, flags=re.S)
        for m in IOCTL.finditer(text):
            call = text[m.start():text.find(";", m.end()) + 1]
            line = text.count("\n", 0, m.start()) + 1
            if "KVM_" in call:
                found.add((str(rel), "kvm", f"line {line}: a KVM ioctl outside src/kvm "
                           "(call a verb of kvm/kvm.h or kvm/kvm_vcpu.h instead)"))
            elif KVM_HEADER.search(raw):
                found.add((str(rel), "kvm", f"line {line}: an ioctl in a file that includes "
                           "KVM's headers (KVM ioctls go through src/kvm)"))
    return found


# struct vm's definition (vm/vm_internal.h) is src/vm's own: the layers above see an opaque struct
# and call the verbs of vm/vm.h. A file whose `vm` is petreld's record (it names struct mgr_vm and
# never struct vm) is not reaching into the VMM's.
VM_PRIVATE = re.compile(r'^\s*#\s*include\s+"vm/vm_internal\.h"', re.M)
VM_REACH = re.compile(r"\bvm->")
VMM_VM = re.compile(r"\bstruct vm\b")
MGR_VM = re.compile(r"\bstruct mgr_vm\b")


def vm_violations(src):
    found = set()
    for path in sorted(src.rglob("*.[ch]")):
        rel = path.relative_to(src)
        home = rel.parts[0] if len(rel.parts) > 1 else ""
        if home == "vm":
            continue
        raw = path.read_text(errors="replace")
        if VM_PRIVATE.search(raw):
            found.add((str(rel), "struct vm", "includes vm/vm_internal.h: struct vm's definition is src/vm's own "
                       "(use the verbs of vm/vm.h)"))
        text = re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: "\n" * m.group(0).count("\n"), raw, flags=re.S)
        if MGR_VM.search(text) and not VMM_VM.search(text):
            continue
        lines = [text.count("\n", 0, m.start()) + 1 for m in VM_REACH.finditer(text)]
        if lines:
            found.add((str(rel), "vm->", f"line(s) {', '.join(map(str, lines))}: reaches into struct vm "
                       "(call a verb of vm/vm.h, or add one in src/vm)"))
    return found


def main():
    src = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else \
        pathlib.Path(__file__).resolve().parents[1] / "src"
    found = (include_violations(src) | api_violations(src) | manager_violations(src) | kvm_ioctl_violations(src)
             | vm_violations(src))
    bad = sorted(f for f in found if (f[0], f[1]) not in KNOWN)
    seen = {(f[0], f[1]) for f in found}
    stale = sorted(k for k in KNOWN if k not in seen)
    for rel, to, why in bad:
        print(f"src/{rel}: includes {to}/: {why}" if to not in ("api", "manager", "kvm", "struct vm", "vm->")
              else f"src/{rel}: {why}")
    for rel, to in stale:
        print(f"src/{rel} no longer has its {to} exception: remove it from KNOWN in {sys.argv[0]}")
    if not bad and not stale:
        print(f"layers: clean ({len(KNOWN)} known exception(s) left)")
    return 1 if bad or stale else 0


if __name__ == "__main__":
    sys.exit(main())
