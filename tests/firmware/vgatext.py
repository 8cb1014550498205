# SPDX-License-Identifier: Apache-2.0
"""Reading stdvga's text screen back (docs/display.md#stdvga): a frame of 9x16 character cells
drawn with petrel's font (src/devices/display/vga_font.c) is turned into lines of text by
matching each cell's pixels with the font's glyphs. A cell whose glyph matches none (the
cursor's cell, a glyph the font left blank) reads as '?'."""
import re

import petrel_test

FONT_C = petrel_test.ROOT / "src" / "devices" / "display" / "vga_font.c"


def font():
    """{glyph rows (16 bytes): character} for code page 437; the first byte wins a tie."""
    glyphs = {}
    for m in re.finditer(r"\[(0x[0-9a-f]+)\] = \{ ([^}]*) \}", FONT_C.read_text()):
        rows = bytes(int(x, 16) for x in m.group(2).split(", "))
        code = int(m.group(1), 16)
        ch = " " if code == 0 else bytes([code]).decode("cp437")
        glyphs.setdefault(rows, ch)
    return glyphs


def read_text(pixel, width, height):
    """The screen's lines: pixel(x, y) gives XRGB; width x height a multiple of 9x16."""
    glyphs = font()
    lines = []
    for row in range(height // 16):
        line = []
        for col in range(width // 9):
            x0, y0 = col * 9, row * 16
            bg = pixel(x0 + 8, y0)   # the ninth column is the background but for line drawing
            rows = bytes(sum(0x80 >> x for x in range(8) if pixel(x0 + x, y0 + y) != bg) for y in range(16))
            line.append(glyphs.get(rows, "?"))
        lines.append("".join(line).rstrip())
    return lines
