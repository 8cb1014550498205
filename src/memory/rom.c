#include "memory/rom.h"
#include "kvm/kvm.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int rom_load(struct rom *r, const void *data, size_t size, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (size == 0 || size % ROM_ALIGN || size > ROM_MAX_SIZE)
		return error_set(err, errlen, -EINVAL, "a firmware image is a multiple of %u KiB up to %u MiB, not %zu bytes",
				 ROM_ALIGN >> 10, ROM_MAX_SIZE >> 20, size);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return error_oom(err, errlen);
	memcpy(p, data, size);
	mprotect(p, size, PROT_READ);
	r->map = p;
	r->size = size;
	return 0;
}

int rom_map(struct rom *r, struct kvm *kvm, uint64_t gpa, const void *data, size_t size,
	    char *err, size_t errlen)
{
	int e = rom_load(r, data, size, err, errlen);
	if (e < 0)
		return e;
	if (gpa % GUEST_PAGE || gpa + size < gpa) {
		rom_unmap(r);
		return error_set(err, errlen, -EINVAL, "firmware at %#llx: not page-aligned", (unsigned long long)gpa);
	}
	if (!kvm_check_extension(kvm, KVM_CAP_READONLY_MEM)) {
		rom_unmap(r);
		return error_set(err, errlen, -ENOTSUP, "this host's KVM cannot map read-only memory (KVM_CAP_READONLY_MEM): "
				 "no firmware");
	}
	e = kvm_set_user_memory(kvm, ROM_SLOT, gpa, size, r->map, KVM_MEM_READONLY);
	if (e < 0) {
		rom_unmap(r);
		return error_set(err, errlen, e, "cannot map the firmware at %#llx: %s", (unsigned long long)gpa, strerror(-e));
	}
	r->gpa = gpa;
	r->kvm = kvm;
	return 0;
}

void rom_unmap(struct rom *r)
{
	if (r->kvm)
		kvm_set_user_memory(r->kvm, ROM_SLOT, r->gpa, 0, NULL, 0);
	if (r->map)
		munmap(r->map, r->size);
	memset(r, 0, sizeof(*r));
}

int rom_copy_low(const struct rom *r, struct guest_mem *mem)
{
	size_t n = r->size < ROM_LOW_SIZE ? r->size : ROM_LOW_SIZE;
	if (!r->map)
		return -EINVAL;
	return guest_mem_write(mem, ROM_LOW_BASE + ROM_LOW_SIZE - n, r->map + r->size - n, n);
}

void rom_mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	const struct rom *r = opaque;
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < r->size ? r->map[off + i] : 0xff;
}

void rom_mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct rom *r = opaque;
	(void)data;
	if (__atomic_fetch_add(&r->writes, 1, __ATOMIC_RELAXED) == 0)
		log_info("the guest writes to its firmware's read-only memory (offset %#llx, %u bytes): dropped; "
			 "further ones are only counted", (unsigned long long)off, len);
}

uint64_t rom_writes(const struct rom *r)
{
	return __atomic_load_n(&r->writes, __ATOMIC_RELAXED);
}
