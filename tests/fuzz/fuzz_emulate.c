/* libFuzzer target: emu_step() on arbitrary instruction bytes and machine states.
 * Input: byte 0 = mode (bit 0 long mode, bit 1 CS.D, bits 2-3 CPL, bit 4 memory faults,
 * bit 5 no MXCSR callbacks, bits 6-7 pick register values), then up to 15 code bytes (an
 * exact-size copy, so reading past `avail` is caught), and the rest fills guest memory. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arch/x86/emulate.h"
#include "fuzz_common.h"

#define MEM_BASE 0x10000ull
#define MEM_SIZE 0x2000u

struct fake {
	uint8_t mem[MEM_SIZE];
	bool fail;
	uint32_t mxcsr;
};

static int in_mem(uint64_t la, unsigned len)
{
	return la >= MEM_BASE && la - MEM_BASE <= MEM_SIZE && len <= MEM_SIZE - (la - MEM_BASE);
}

static int fake_read(void *opaque, uint64_t la, void *buf, unsigned len)
{
	struct fake *f = opaque;
	FUZZ_CHECK(len >= 1 && len <= 4096 && ((la & 4095) + len <= 4096 || len <= 8));
	if (f->fail || !in_mem(la, len))
		return -EFAULT;
	memcpy(buf, f->mem + (la - MEM_BASE), len);
	return 0;
}

static int fake_write(void *opaque, uint64_t la, const void *buf, unsigned len)
{
	struct fake *f = opaque;
	FUZZ_CHECK(len >= 1 && len <= 4096 && ((la & 4095) + len <= 4096 || len <= 8));
	if (f->fail || !in_mem(la, len))
		return la >= MEM_BASE + 0x1000 ? -EMU_EPROT : -EFAULT; /* second page read-only */
	memcpy(f->mem + (la - MEM_BASE), buf, len);
	return 0;
}

static int get_mxcsr(void *opaque, uint32_t *v)
{
	*v = ((struct fake *)opaque)->mxcsr;
	return 0;
}

static int set_mxcsr(void *opaque, uint32_t v)
{
	FUZZ_CHECK((v & ~0xffffu) == 0); /* reserved bits must have raised #GP instead */
	((struct fake *)opaque)->mxcsr = v;
	return 0;
}

static uint8_t xstate[EMU_XSAVE_SIZE];

static int get_xsave(void *opaque, uint8_t buf[EMU_XSAVE_SIZE])
{
	(void)opaque;
	memcpy(buf, xstate, EMU_XSAVE_SIZE);
	return 0;
}

static int set_xsave(void *opaque, const uint8_t buf[EMU_XSAVE_SIZE])
{
	(void)opaque;
	uint64_t bv;
	memcpy(&bv, buf + 512, 8);
	FUZZ_CHECK((bv & ~0xe7ull) == 0); /* never more than XCR0 */
	memcpy(xstate, buf, EMU_XSAVE_SIZE);
	return 0;
}

static int get_xcr(void *opaque, uint32_t index, uint64_t *v)
{
	(void)opaque;
	if (index)
		return -EINVAL;
	*v = 0xe7;
	return 0;
}

static int set_xcr(void *opaque, uint32_t index, uint64_t v)
{
	(void)opaque;
	return index || (v & ~0xe7ull) || !(v & 1) ? -EINVAL : 0;
}

/* AVX, opmask, ZMM_Hi256, Hi16_ZMM where a Zen 4 puts them. */
static const struct emu_xsave_layout layout = {
	.supported = 0xe7,
	.offset = { [2] = 576, [5] = 1088, [6] = 1152, [7] = 1664 },
	.size = { [2] = 256, [5] = 64, [6] = 512, [7] = 1024 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static struct fake f;
	uint8_t mode = data[0];
	size_t avail = size - 1 > EMU_MAX_INSN ? EMU_MAX_INSN : size - 1;
	/* sometimes offer more bytes than one instruction may have */
	if ((mode & 0xc0) == 0xc0 && size - 1 > avail)
		avail = size - 1 > 20 ? 20 : size - 1;
	uint8_t *code = fuzz_dup(data + 1, avail);
	memset(f.mem, 0, sizeof(f.mem));
	size_t rest = size - 1 - avail;
	memcpy(f.mem, data + 1 + avail, rest > MEM_SIZE ? MEM_SIZE : rest);
	f.fail = mode & 0x10;
	f.mxcsr = 0x1f80;

	struct emu_env env = {
		.opaque = &f, .read = fake_read, .write = fake_write,
		.get_mxcsr = (mode & 0x20) ? NULL : get_mxcsr,
		.set_mxcsr = (mode & 0x20) ? NULL : set_mxcsr,
		.get_xsave = get_xsave, .set_xsave = set_xsave, .get_xcr = get_xcr, .set_xcr = set_xcr,
		.xsave_layout = &layout,
		.fs_base = MEM_BASE + 0x100, .gs_base = MEM_BASE + 0x200,
		.long_mode = mode & 1, .cs_db = mode & 2, .cpl = (mode >> 2) & 3,
	};
	struct emu_regs r;
	for (int i = 0; i < 16; i++) {
		switch (mode >> 6) {
		case 0: r.gpr[i] = MEM_BASE + 0x40 * (uint64_t)i; break;   /* pointers into memory */
		case 1: r.gpr[i] = 0x10 * (uint64_t)i; break;              /* small indexes */
		case 2: r.gpr[i] = ~0ull - (uint64_t)i; break;             /* wrap-around */
		default: r.gpr[i] = 0x0123456789abcdefull * (uint64_t)(i + 1); break;
		}
	}
	r.rip = MEM_BASE + 0x800;
	r.rflags = 0x2 | (mode & 0x80 ? 0x40000 : 0);
	struct emu_regs before = r;
	struct emu_result res;
	emu_step(&env, &r, code, (unsigned)avail, &res);

	FUZZ_CHECK(res.name != NULL);
	switch (res.status) {
	case EMU_DONE:
		FUZZ_CHECK(res.len >= 1 && res.len <= EMU_MAX_INSN && res.len <= avail);
		FUZZ_CHECK(r.rip == before.rip + res.len);
		break;
	case EMU_EXCEPTION:
		FUZZ_CHECK(res.len >= 1 && res.len <= EMU_MAX_INSN && res.len <= avail);
		FUZZ_CHECK(res.vector < 32);
		FUZZ_CHECK(r.rip == before.rip || r.rip == before.rip + res.len);
		break;
	case EMU_FAULT:
	case EMU_UNSUPPORTED:
		/* nothing the guest can see changed */
		FUZZ_CHECK(memcmp(&r, &before, sizeof(r)) == 0);
		break;
	default:
		FUZZ_CHECK(0);
	}
	free(code);
	return 0;
}
