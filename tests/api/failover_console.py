# SPDX-License-Identifier: Apache-2.0
"""What the outside saw of a guest's console across a replication failover: the primary's
console, then the standby's. The standby begins by writing again the console output of the
epoch whose checkpoint it had when the primary died, unless the primary had told it that it
wrote that output (docs/high-availability.md, "Output commit"). So none is ever lost, and when
the primary died between writing an epoch's output and saying so, that output (all of it, or
the part the primary got out) comes twice, byte for byte."""
import re

MAX_AGAIN = 1 << 20  # the standby keeps at most an epoch's last 1 MiB (MIG_MAX_COUT)


def _counts(text, pattern):
    text = text.replace("\r", "")
    text = text[:text.rfind("\n") + 1]  # a line still being written is not a count yet
    return [int(n) for n in re.findall(pattern, text, re.M)]


def _written_again_candidates(before, after):
    """Lengths j (longest first, 0 last) such that the primary's console ends with the first
    j characters of the standby's: each is a way the standby may have begun by writing the
    last j characters again (prefix function over after + separator + before's end)."""
    a, b = after[:MAX_AGAIN], before[-MAX_AGAIN:]
    s = a + "\0" + b
    pi = [0] * len(s)
    for i in range(1, len(s)):
        k = pi[i - 1]
        while k and s[i] != s[k]:
            k = pi[k - 1]
        if s[i] == s[k]:
            k += 1
        pi[i] = k
    out, j = [], pi[-1] if s else 0
    while j:
        out.append(j)
        j = pi[j - 1]
    return out + [0]


def join(before, after, pattern):
    """The primary's console (before) and the standby's (after) as one, checked: the counts
    matching pattern go on one by one, none lost, and anything repeated is the standby writing
    the primary's last output again, verbatim. Returns (the joined console, how many characters
    came twice); raises AssertionError with the counts otherwise."""
    for again in _written_again_candidates(before, after):
        joined = before[:len(before) - again] + after
        got = _counts(joined, pattern)
        if got and got == list(range(got[0], got[0] + len(got))):
            return joined, again
    got = _counts(before, pattern), _counts(after, pattern)
    raise AssertionError(f"the counts do not go on across the failover: primary {got[0][-8:]}, standby {got[1][:8]}")
