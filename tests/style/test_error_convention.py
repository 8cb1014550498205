"""What is left in src/ of the old ways to report an error (docs/development.md, "Errors and
messages"): the one way is `return error_set(err, errlen, -ECODE, "...")` (util/error.h).
Each count below may only fall: when one rises, a change brought an old way back; when one
falls, lower its CEILING to the new number in the same change, so that it cannot rise again.

- snprintf: a message formatted straight into an error buffer (`snprintf(err, errlen, ...)`,
  `snprintf(s->err, s->errlen, ...)`) instead of through error_set, which sets the code with it.
- helpers: a private error helper, defined outside util/error.c: a function named bad/fail or
  with a printf-like format (`const char *fmt, ...` or a va_list) that writes a caller's error buffer (vsnprintf/verror_set/snprintf
  into `err`, `s->err`), or a macro that stands for error_set or writes an error buffer.
- aliases: calls of error_set under another name: `fail()` (once a macro in api/core.h) and
  `json_set_err()` (once util/json_util.h's error_set with -EINVAL fixed).
- mgr_err: petreld's own channel, which took a positive errno (once in manager/util.c).

All four are 0 now: the ceilings keep them there, and the measures stay so that none comes back.
"""
import collections
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]

# The ratchet: today's counts (all 0 since issue 51). Never raise one.
CEILING = {
    "snprintf": 0,
    "helpers": 0,
    "aliases": 0,
    "mgr_err": 0,
}

COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
RAW = re.compile(r"\bsnprintf\(\s*[\w>.-]*\berr\w*\s*,\s*(?:[\w>.-]*errlen\b|sizeof\(\s*\w*err\w*\s*\))")
ALIAS = re.compile(r"(?<![\w.>])(?:fail|json_set_err)\s*\(\s*[\w>.-]*\berr\w*\s*,\s*[\w>.()-]*errlen\b")
MGR_ERR = re.compile(r"(?<![\w.>])mgr_err\s*\(")
# a function definition at file level: its name, its parameters, its body (to the first `}`
# in column 0)
FUNC = re.compile(r"^(?:[A-Za-z_][\w \t\*]*?[\s\*])?(\w+)\s*\(([^;{}()]*(?:\([^()]*\)[^;{}()]*)*)\)\s*\{(.*?)^\}",
                  re.S | re.M)
MACRO = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)\(([^)]*)\)((?:[^\n]*\\\n)*[^\n]*)", re.M)
WRITES_ERR = re.compile(r"\b(?:v?snprintf|verror_set)\(\s*[\w>.-]*\berr\w*\s*,")
NAMED = {"bad", "fail"}


def strip(text):
    return COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def helpers(path, text):
    """The private error helpers defined in one file (names)."""
    if path.as_posix().endswith("util/error.c"):
        return []
    found = []
    for m in FUNC.finditer(text):
        name, params, body = m.group(1), m.group(2), m.group(3)
        if name in ("if", "for", "while", "switch", "return", "sizeof"):
            continue
        formats = re.search(r"\bconst char \*\s*fmt\b", params) and re.search(r"\.\.\.|\bva_list\b", params)
        if (name in NAMED or formats) and WRITES_ERR.search(body):
            found.append(name)
    for m in MACRO.finditer(text):
        name, body = m.group(1), m.group(3)
        if re.search(r"\berror_set\(\s*__VA_ARGS__", body) or WRITES_ERR.search(body):
            found.append(name)
    return found


def folder(path, src):
    rel = path.relative_to(src)
    return rel.parts[0] if len(rel.parts) > 1 else "."


def count(src):
    """{measure: Counter(folder -> n)} over the .c and .h files below src."""
    out = {k: collections.Counter() for k in CEILING}
    for path in sorted(src.rglob("*.[ch]")):
        text = strip(path.read_text(errors="replace"))
        where = folder(path, src)
        defined = helpers(path, text)
        out["snprintf"][where] += len(RAW.findall(text))
        out["helpers"][where] += len(defined)
        # a call, not the definition or the declaration of the old name
        calls = [m for m in ALIAS.finditer(text)
                 if not re.search(r"(?:#\s*define\s+|\bint\s+)$", text[max(0, m.start() - 40):m.start()])]
        out["aliases"][where] += len(calls)
        calls = [m for m in MGR_ERR.finditer(text)
                 if not re.search(r"\bint\s+$", text[max(0, m.start() - 40):m.start()])]
        out["mgr_err"][where] += len(calls)
    return out


def report(counts):
    lines = []
    for k, per in counts.items():
        total = sum(per.values())
        rows = ", ".join(f"{f} {n}" for f, n in sorted(per.items(), key=lambda x: (-x[1], x[0])) if n)
        lines.append(f"  {k}: {total} (ceiling {CEILING[k]}){': ' + rows if rows else ''}")
    return "\n".join(lines)


def test_the_old_ways_only_recede():
    counts = count(ROOT / "src")
    rose = [k for k in CEILING if sum(counts[k].values()) > CEILING[k]]
    fell = [k for k in CEILING if sum(counts[k].values()) < CEILING[k]]
    assert not rose, ("an old way to report an error came back (use error_set, util/error.h):\n"
                      + report(counts))
    assert not fell, ("fewer old ways than the ceiling: lower CEILING in "
                      "tests/style/test_error_convention.py to " +
                      ", ".join(f"{k}={sum(counts[k].values())}" for k in fell) + "\n" + report(counts))


def test_the_count_is_not_blind(tmp_path):
    """Each old way, written in a scratch tree, is counted in its folder; error_set is not."""
    src = tmp_path / "src"
    (src / "util").mkdir(parents=True)
    (src / "blk").mkdir()
    (src / "util" / "error.c").write_text(
        "int verror_set(char *err, size_t errlen, int code, const char *fmt, va_list ap)\n{\n"
        "\tvsnprintf(err, errlen, fmt, ap);\n\treturn code;\n}\n")
    (src / "blk" / "a.c").write_text(
        "static int bad(char *err, size_t errlen, const char *fmt, int a)\n{\n"
        "\tsnprintf(err, errlen, fmt, a);\n\treturn -EINVAL;\n}\n"
        "static int note(char *err, size_t errlen, int e, const char *fmt, ...)\n{\n"
        "\tva_list ap;\n\tva_start(ap, fmt);\n\tvsnprintf(err, errlen, fmt, ap);\n\tva_end(ap);\n"
        "\treturn e;\n}\n"
        "#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)\n"
        "int f(struct s *s, char *err, size_t errlen)\n{\n"
        "\t/* snprintf(err, errlen, \"in a comment\") */\n"
        "\tif (s->x) {\n\t\tsnprintf(s->err, s->errlen, \"x\");\n\t\treturn -EIO;\n\t}\n"
        "\tif (s->y)\n\t\treturn fail(err, errlen, -EINVAL, \"y\");\n"
        "\tif (s->z)\n\t\treturn mgr_err(err, errlen, EINVAL, \"z\");\n"
        "\treturn error_set(err, errlen, -EINVAL, \"w\");\n}\n")
    c = count(src)
    assert c["snprintf"] == {"blk": 3, "util": 0}, c  # bad's, FAIL's and f's
    assert sorted(helpers(src / "blk" / "a.c", strip((src / "blk" / "a.c").read_text()))) == \
        ["FAIL", "bad", "note"]
    assert c["helpers"]["util"] == 0 and c["helpers"]["blk"] == 3
    assert c["aliases"]["blk"] == 1 and c["mgr_err"]["blk"] == 1
