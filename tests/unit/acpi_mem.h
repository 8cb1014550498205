/* The ACPI tests (test_acpi_*.c): guest memory M (MEM_SIZE bytes of garbage, as if reused),
 * little-endian readers, and table(), which finds a table in the ACPI area and checks its
 * signature, length and checksum. Include after unit.h. */
#ifndef PETREL_TESTS_UNIT_ACPI_MEM_H
#define PETREL_TESTS_UNIT_ACPI_MEM_H

#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "memory/guest_mem.h"

#define MEM_SIZE (2u << 20)

static struct guest_mem M;

static inline void mem_init(void)
{
	memset(&M, 0, sizeof(M));
	M.regions[0] = (struct guest_region){ 0, MEM_SIZE, malloc(MEM_SIZE) };
	memset(M.regions[0].hva, 0xa5, MEM_SIZE); /* garbage, as if reused */
	M.nregions = 1;
	M.total = MEM_SIZE;
}

static inline void mem_free(void)
{
	free(M.regions[0].hva);
	memset(&M, 0, sizeof(M));
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static inline uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static inline uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* The table at gpa, after checking that it lies in the ACPI area and that its length and
 * checksum are right; NULL (and a failed check) otherwise. */
static inline const uint8_t *table(uint64_t gpa, const char *sig)
{
	if (gpa < LAYOUT_ACPI || gpa + 36 > LAYOUT_ACPI_END) {
		UNIT_FAIL_("%s at 0x%llx is outside the ACPI area", sig, (unsigned long long)gpa);
		return NULL;
	}
	const uint8_t *t = guest_mem_ptr(&M, gpa, 36);
	if (memcmp(t, sig, 4) != 0) {
		UNIT_FAIL_("table at 0x%llx is \"%.4s\", expected %s", (unsigned long long)gpa,
			   (const char *)t, sig);
		return NULL;
	}
	uint32_t len = rd32(t + 4);
	if (len < 36 || gpa + len > LAYOUT_ACPI_END) {
		UNIT_FAIL_("%s length %u is invalid", sig, len);
		return NULL;
	}
	if (sum(t, len) != 0) {
		UNIT_FAIL_("%s checksum is wrong", sig);
		return NULL;
	}
	return t;
}

#endif
