"""One name, one thing, in each program: no struct name and no global function name is defined
twice among what meson links into petrel, petreld, petrelctl or petrel-jailer. Two `struct vm`s
or two `event_emit`s in one link are legal C as long as no file sees both, but a reader (and a
debugger, and the linker picking the first archive member that resolves a symbol) cannot tell
which one is meant.

What a program is made of comes from the build: `meson introspect --targets` gives each
target's sources, and the link line in build.ninja the static libraries meson links it with
(meson writes the whole, already flattened, list there). Functions: the global text ('T')
symbols of the objects in build/<target>.p/. Structs: `struct NAME {` in those .c files and in
the headers they include (quoted includes, followed down). Needs a configured build/ (skipped
without one); objects not built yet are built by `ninja -C build` first.

KNOWN holds today's collisions, each to go: the test fails on a new one and on a KNOWN entry
that is no longer true (then delete the entry).
"""
import collections
import functools
import json
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
PROGRAMS = ("petrel", "petreld", "petrelctl", "petrel-jailer")

# (program, "struct NAME" or "NAME()"): today's collisions, none since issue 51. A new one
# is renamed, not listed here.
KNOWN = set()

STRUCT = re.compile(r"\bstruct\s+(\w+)\s*\{")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def targets():
    out = subprocess.run(["meson", "introspect", str(BUILD), "--targets"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def linked_libraries(program, by_file):
    """The static libraries of this build on the program's link line in build.ninja."""
    ninja = (BUILD / "build.ninja").read_text()
    m = re.search(r"^build %s: c_LINKER ([^\n]*)" % re.escape(program), ninja, re.M)
    assert m, f"no link line for {program} in build.ninja"
    return [by_file[w] for w in m.group(1).replace("|", " ").split() if w in by_file]


def sources(target):
    return [pathlib.Path(s) for ts in target["target_sources"] for s in ts["sources"]
            if s.endswith(".c")]


def object_of(target, src):
    """build/<target file>.p/<source path with / as _>.o, as meson names it."""
    out = pathlib.Path(target["filename"][0])
    rel = src.resolve().relative_to(ROOT).as_posix().replace("/", "_")
    return out.parent / (out.name + ".p") / (rel + ".o")


@functools.lru_cache(maxsize=None)
def functions(obj):
    r = subprocess.run(["nm", "--defined-only", str(obj)], capture_output=True, text=True, check=True)
    return [ln.split()[2] for ln in r.stdout.splitlines() if len(ln.split()) == 3 and ln.split()[1] == "T"]


def headers(c_files):
    """The quoted includes of these files, followed down, that exist under the tree."""
    seen, todo = set(), list(c_files)
    while todo:
        f = todo.pop()
        for inc in INCLUDE.findall(f.read_text(errors="replace")):
            for base in (f.parent, ROOT / "src", ROOT):
                h = (base / inc).resolve()
                if h.is_file():
                    if h not in seen:
                        seen.add(h)
                        todo.append(h)
                    break
    return seen


def rel(p):
    return pathlib.Path(p).resolve().relative_to(ROOT).as_posix()


def definitions(program, all_targets):
    """{"struct NAME" / "NAME()": sorted places} of the names defined more than once."""
    by_file = {pathlib.Path(t["filename"][0]).name: t for t in all_targets if t["type"] == "static library"}
    exe = next(t for t in all_targets if t["name"] == program and t["type"] == "executable")
    parts = [exe] + linked_libraries(program, by_file)
    places = collections.defaultdict(set)
    c_files = []
    for t in parts:
        for src in sources(t):
            c_files.append(src)
            obj = object_of(t, src)
            assert obj.is_file(), f"{obj} is not built (ninja -C build)"
            for name in functions(obj):
                places[name + "()"].add(rel(src))
    for f in sorted(set(c_files) | headers(c_files)):
        text = COMMENT.sub("", f.read_text(errors="replace"))
        for name in STRUCT.findall(text):
            places["struct " + name].add(rel(f))
    return {k: sorted(v) for k, v in places.items() if len(v) > 1}


@pytest.fixture(scope="module")
def built():
    if not (BUILD / "build.ninja").is_file() or not shutil.which("meson") or not shutil.which("nm"):
        pytest.skip("needs a configured build/ (meson setup build), meson and nm")
    subprocess.run(["ninja", "-C", str(BUILD), *PROGRAMS], capture_output=True, check=True)
    return targets()


def test_each_name_has_one_definition_per_program(built):
    found = {(p, name): where for p in PROGRAMS for name, where in definitions(p, built).items()}
    new = sorted(k for k in found if k not in KNOWN)
    stale = sorted(k for k in KNOWN if k not in found)
    msg = [f"{p}: {name} is defined in {' and '.join(found[(p, name)])}" for p, name in new]
    msg += [f"{p}: {name} is no longer defined twice: remove it from KNOWN in {rel(__file__)}"
            for p, name in stale]
    assert not msg, "\n".join(msg)


def test_the_check_sees_a_second_definition(built, tmp_path):
    """Not blind: two places of one struct name in a program's headers are found."""
    a, b = tmp_path / "a.h", tmp_path / "b.h"
    a.write_text("struct twice {\n\tint x;\n};\n")
    b.write_text("/* struct twice { in a comment */\nstruct twice { long y; };\n")
    c = tmp_path / "m.c"
    c.write_text('#include "a.h"\n#include "b.h"\n')
    hs = headers([c])
    assert {h.name for h in hs} == {"a.h", "b.h"}
    names = [n for h in sorted(hs) for n in STRUCT.findall(COMMENT.sub("", h.read_text()))]
    assert names == ["twice", "twice"]
