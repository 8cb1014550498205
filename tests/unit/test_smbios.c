/* Unit tests for src/arch/x86/smbios.c: the SMBIOS 3.0 entry point and structure table read
 * back as a guest reads them (the entry point's checksum, a walk of the structures and their
 * string sets, unique handles, the UUID and serial), and, where dmidecode is installed, what
 * dmidecode --from-dump prints of them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "arch/x86/fw_loader.h"
#include "arch/x86/smbios.h"
#include "util/codec.h"
#include "unit.h"

#define GIB (1ull << 30)

static const struct smbios_info INFO = {
	.uuid = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef },
	.serial = "petrel-0042",
	.ncpus = 4,
	.mem_bytes = 40 * GIB,
	.version = "0.52",
};

struct built {
	uint8_t *anchor, *tables;
	uint32_t anchor_len, tables_len;
};

static void built_free(struct built *b)
{
	free(b->anchor);
	free(b->tables);
	memset(b, 0, sizeof(*b));
}

/* One structure found by the walk. */
struct smb {
	const uint8_t *p;       /* its formatted area */
	const char *str[16];    /* its strings, 1-based (str[0] unused) */
	unsigned nstr;
};

#define MAX_STRUCTS 300

/* Walk the table: every structure's formatted area and string set inside it, the last one
 * type 127 ending exactly at the end, handles unique. The count, or -1 (a failed check). */
static int walk(const struct built *b, struct smb *out)
{
	const uint8_t *t = b->tables, *end = t + b->tables_len;
	uint16_t handles[MAX_STRUCTS];
	int n = 0;
	for (const uint8_t *p = t; p < end; n++) {
		if (n == MAX_STRUCTS || end - p < 4 || p[1] < 4 || end - p < p[1] + 2) {
			UNIT_FAIL_("structure %d at offset %td is cut short", n, p - t);
			return -1;
		}
		struct smb *s = &out[n];
		memset(s, 0, sizeof(*s));
		s->p = p;
		handles[n] = (uint16_t)le_load(p + 2, 2);
		for (int i = 0; i < n; i++)
			if (handles[i] == handles[n])
				UNIT_FAIL_("handle 0x%x used twice", handles[n]);
		const uint8_t *q = p + p[1];
		if (q[0] == 0 && q[1] == 0) {
			q += 2;           /* no strings */
		} else {
			while (q < end && *q) {
				const uint8_t *z = memchr(q, 0, (size_t)(end - q));
				if (!z || s->nstr == 15) {
					UNIT_FAIL_("structure %d: string set not terminated", n);
					return -1;
				}
				s->str[++s->nstr] = (const char *)q;
				q = z + 1;
			}
			if (q >= end) {
				UNIT_FAIL_("structure %d: string set runs past the table", n);
				return -1;
			}
			q++;              /* the set's closing NUL */
		}
		p = q;
		if (s->p[0] == 127) {
			if (p != end)
				UNIT_FAIL_("%td bytes after the end-of-table structure", end - p);
			return n + 1;
		}
	}
	UNIT_FAIL_("no end-of-table structure");
	return -1;
}

/* The string a field names ("" for none; a failed check for an index past the set). */
static const char *str(const struct smb *s, unsigned field)
{
	unsigned i = s->p[field];
	if (i > s->nstr) {
		UNIT_FAIL_("type %u: string %u of %u", s->p[0], i, s->nstr);
		return "";
	}
	return i ? s->str[i] : "";
}

static const struct smb *find(const struct smb *s, int n, uint8_t type, int which)
{
	for (int i = 0; i < n; i++)
		if (s[i].p[0] == type && which-- == 0)
			return &s[i];
	return NULL;
}

static struct smb S[MAX_STRUCTS];

TEST(entry_point)
{
	struct built b;
	REQUIRE_EQ(smbios_build(&INFO, &b.anchor, &b.anchor_len, &b.tables, &b.tables_len), 0);
	REQUIRE_EQ(b.anchor_len, 24);
	const uint8_t *a = b.anchor;
	CHECK(memcmp(a, "_SM3_", 5) == 0);
	CHECK_EQ(fw_byte_sum(a, 24), 0);
	CHECK_EQ(a[6], 24);
	CHECK_EQ(a[7], 3);
	CHECK_EQ(a[8], 0);
	CHECK_EQ(a[10], 1);
	CHECK_EQ(le_load(a + 12, 4), b.tables_len);
	CHECK_EQ(le_load(a + 16, 8), 0);
	built_free(&b);
}

TEST(structures)
{
	struct built b;
	REQUIRE_EQ(smbios_build(&INFO, &b.anchor, &b.anchor_len, &b.tables, &b.tables_len), 0);
	int n = walk(&b, S);
	REQUIRE(n > 0);
	static const uint8_t order[] = { 0, 1, 3, 4, 16, 17, 17, 17, 32, 127 };
	REQUIRE_EQ(n, (int)sizeof(order));
	for (int i = 0; i < n; i++)
		CHECK_EQ(S[i].p[0], order[i]);
	const struct smb *t0 = find(S, n, 0, 0), *t1 = find(S, n, 1, 0), *t4 = find(S, n, 4, 0);
	REQUIRE(t0 && t1 && t4);
	CHECK_STR_EQ(str(t0, 4), "petrel");
	CHECK_STR_EQ(str(t0, 5), "0.52");
	CHECK_EQ(t0->p[0x13] & 0x10, 0x10);      /* BIOS characteristics: a virtual machine */
	CHECK_STR_EQ(str(t1, 4), "petrel");
	CHECK_STR_EQ(str(t1, 7), "petrel-0042");
	static const uint8_t uuid[16] = { 0x67, 0x45, 0x23, 0x01, 0xab, 0x89, 0xef, 0xcd,
					  0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
	CHECK(memcmp(t1->p + 8, uuid, 16) == 0);
	CHECK_EQ(t4->p[1], 0x30);
	CHECK_EQ(t4->p[0x23], 4);                /* cores */
	CHECK_EQ(le_load(t4->p + 0x2a, 2), 4);
	CHECK_STR_EQ(str(t4, 4), "CPU 0");
	/* 40 GiB: DIMMs of 16, 16 and 8 GiB, in MiB, on the array */
	const struct smb *t16 = find(S, n, 16, 0);
	REQUIRE(t16 != NULL);
	CHECK_EQ(le_load(t16->p + 7, 4), 40ull << 20); /* KiB */
	CHECK_EQ(le_load(t16->p + 0xd, 2), 3);
	uint64_t sizes[] = { 16384, 16384, 8192 };
	for (int i = 0; i < 3; i++) {
		const struct smb *d = find(S, n, 17, i);
		REQUIRE(d != NULL);
		CHECK_EQ(le_load(d->p + 0xc, 2), sizes[i]);
		CHECK_EQ_HEX(le_load(d->p + 4, 2), le_load(t16->p + 2, 2));
		char loc[16];
		snprintf(loc, sizeof(loc), "DIMM %d", i);
		CHECK_STR_EQ(str(d, 0x10), loc);
	}
	built_free(&b);
}

TEST(sizes_and_limits)
{
	struct smbios_info in = INFO;
	struct built b;
	/* 1 GiB and no serial: one DIMM, type 1 without a serial string */
	in.mem_bytes = GIB;
	in.serial = NULL;
	in.ncpus = 300;
	REQUIRE_EQ(smbios_build(&in, &b.anchor, &b.anchor_len, &b.tables, &b.tables_len), 0);
	int n = walk(&b, S);
	REQUIRE(n > 0);
	CHECK(find(S, n, 17, 0) && !find(S, n, 17, 1));
	CHECK_EQ(le_load(find(S, n, 17, 0)->p + 0xc, 2), 1024);
	CHECK_EQ(find(S, n, 1, 0)->p[7], 0);
	CHECK_EQ(find(S, n, 4, 0)->p[0x23], 0xff); /* past 255 cores: the 2-byte count */
	CHECK_EQ(le_load(find(S, n, 4, 0)->p + 0x2a, 2), 300);
	built_free(&b);
	/* 4 TiB: 256 DIMMs, the array's capacity in its extended field */
	in.mem_bytes = 4096 * GIB;
	REQUIRE_EQ(smbios_build(&in, &b.anchor, &b.anchor_len, &b.tables, &b.tables_len), 0);
	n = walk(&b, S);
	REQUIRE(n > 0);
	CHECK(find(S, n, 17, 255) && !find(S, n, 17, 256));
	CHECK_EQ_HEX(le_load(find(S, n, 16, 0)->p + 7, 4), 0x80000000u);
	CHECK_EQ_HEX(le_load(find(S, n, 16, 0)->p + 0xf, 8), 4096 * GIB);
	built_free(&b);
	in.mem_bytes = 4096 * GIB + 1;
	CHECK_EQ(smbios_build(&in, &b.anchor, &b.anchor_len, &b.tables, &b.tables_len), -EINVAL);
	in.mem_bytes = 0;
	CHECK_EQ(smbios_build(&in, &b.anchor, &b.anchor_len, &b.tables, &b.tables_len), -EINVAL);
	in.mem_bytes = GIB;
	in.ncpus = 0;
	CHECK_EQ(smbios_build(&in, &b.anchor, &b.anchor_len, &b.tables, &b.tables_len), -EINVAL);
}

/* dmidecode reads a dump file: the entry point at offset 0, the table at the offset the entry
 * point's address gives (dmidecode --dump-bin writes it at 32). */
TEST(dmidecode_reads_it)
{
	if (system("command -v dmidecode >/dev/null 2>&1") != 0) {
		printf("SKIP dmidecode_reads_it: no dmidecode (apt-get install dmidecode)\n");
		return;
	}
	struct built b;
	REQUIRE_EQ(smbios_build(&INFO, &b.anchor, &b.anchor_len, &b.tables, &b.tables_len), 0);
	uint8_t ep[32] = { 0 };
	memcpy(ep, b.anchor, 24);
	le_store(ep + 16, sizeof(ep), 8);
	ep[5] = 0;
	ep[5] = (uint8_t)(0 - fw_byte_sum(ep, 24));
	char path[] = "/tmp/petrel-smbios-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	CHECK_EQ(write(fd, ep, sizeof(ep)), (ssize_t)sizeof(ep));
	CHECK_EQ(write(fd, b.tables, b.tables_len), (ssize_t)b.tables_len);
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "dmidecode --from-dump %s 2>&1", path);
	FILE *p = popen(cmd, "r");
	REQUIRE(p != NULL);
	static char out[65536];
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	CHECK_EQ(pclose(p), 0);
	unlink(path);
	CHECK_CONTAINS(out, "SMBIOS 3.0.0 present.");
	CHECK_CONTAINS(out, "Manufacturer: petrel");
	CHECK_CONTAINS(out, "Serial Number: petrel-0042");
	CHECK(strcasestr(out, "UUID: 01234567-89ab-cdef-0123-456789abcdef") != NULL);
	CHECK_CONTAINS(out, "System is a virtual machine");
	CHECK_CONTAINS(out, "Core Count: 4");
	CHECK_CONTAINS(out, "Size: 16 GB");
	CHECK_CONTAINS(out, "Size: 8 GB");
	CHECK_CONTAINS(out, "End Of Table");
	if (strstr(out, "Invalid") || strstr(out, "wrong") || strstr(out, "truncated"))
		UNIT_FAIL_("dmidecode complains:\n%s", out);
	built_free(&b);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
