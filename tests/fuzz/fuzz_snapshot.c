/* libFuzzer target: the VM-state format reader (src/snapshot/format.c) on arbitrary bytes.
 * snap_open must accept or refuse without reading out of bounds; when it accepts, iterating,
 * finding and fixed-size reads must stay inside the buffer. Half the inputs get a valid CRC
 * and END section appended (re-sealed), so the fuzzer reaches the section walk behind it.
 * snap_get looks a section up from the start, so it is tried on the first GET_CHECKS sections
 * only: on all of them an input of a few thousand small sections costs quadratic time (most of
 * this target's CPU once its corpus held 13 KiB inputs) and reaches no more code. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "snapshot/format.h"

#define GET_CHECKS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_dup(data, size);
	char err[256];
	struct snap_reader r;
	if (snap_open(&r, buf, size, err, sizeof(err)) == 0) {
		size_t cur = 0;
		struct snap_section s;
		unsigned n = 0;
		while (snap_next(&r, &cur, &s)) {
			FUZZ_CHECK(s.payload >= buf && s.payload + s.len <= buf + size);
			uint8_t out[64];
			if (s.len <= sizeof(out) && n < GET_CHECKS)
				FUZZ_CHECK(snap_get(&r, s.id, s.instance, s.version, out, (size_t)s.len, err,
						    sizeof(err)) == 0);
			n++;
		}
		FUZZ_CHECK(n == r.nsections);
	} else {
		FUZZ_CHECK(err[0] != '\0');
	}
	free(buf);

	/* Re-seal: the bytes after a header become sections of a writer-made file. */
	if (size >= 4) {
		struct snap_writer w;
		snap_writer_init(&w);
		size_t off = 0;
		while (off + 4 <= size) {
			uint32_t len = data[off] % 64;
			uint32_t id = data[off + 1] | (uint32_t)data[off + 2] << 8;
			off += 4;
			if (len > size - off)
				len = (uint32_t)(size - off);
			snap_section(&w, id, data[off - 1], 1, data + off, len);
			off += len;
		}
		FUZZ_CHECK(snap_finish(&w) == 0);
		FUZZ_CHECK(snap_open(&r, w.buf, w.len, err, sizeof(err)) == 0);
		snap_writer_free(&w);
	}
	return 0;
}
