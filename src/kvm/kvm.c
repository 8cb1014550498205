#include "kvm/kvm.h"
#include "kvm/kvm_coalesced.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

bool kvm_host_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

int kvm_open(struct kvm *kvm)
{
	memset(kvm, 0, sizeof(*kvm));
	pthread_mutex_init(&kvm->coalesced.lock, NULL);
	kvm->vm_fd = -1;
	kvm->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		int err = -errno;
		if (err == -ENOENT)
			log_error("/dev/kvm does not exist: KVM is not available on this host (load kvm_intel/kvm_amd or enable virtualization)");
		else if (err == -EACCES || err == -EPERM)
			log_error("no permission to open /dev/kvm: run as root or add the user to the 'kvm' group");
		else
			log_error("cannot open /dev/kvm: %s", strerror(-err));
		return err;
	}
	int ver = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		log_error("KVM API version %d, expected %d", ver, KVM_API_VERSION);
		kvm_close(kvm);
		return -ENOTSUP;
	}
	static const struct { long cap; const char *name; } need[] = {
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
		{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
			log_error("host KVM lacks %s, which petrel needs", need[i].name);
			kvm_close(kvm);
			return -ENOTSUP;
		}
	}
	int sz = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0) {
		log_error("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		kvm_close(kvm);
		return -EIO;
	}
	kvm->run_size = (size_t)sz;
	kvm->vm_fd = ioctl(kvm->fd, KVM_CREATE_VM, 0);
	if (kvm->vm_fd < 0) {
		int err = -errno;
		log_error("KVM_CREATE_VM: %s", strerror(errno));
		kvm_close(kvm);
		return err;
	}
	kvm->pvm = kvm_host_is_pvm();
	int cm = kvm_check_extension(kvm, KVM_CAP_COALESCED_MMIO);
	kvm->coalesced.page = cm > 0 ? (unsigned)cm : 0;
	/* Exceptions petrel injects (the emulator's #PF) then carry their payload (CR2), so CR2
	 * is set when the guest takes the exception, not written ahead with KVM_SET_SREGS; and
	 * the vCPU event state a snapshot saves says pending and injected apart. */
	struct kvm_enable_cap cap = { .cap = KVM_CAP_EXCEPTION_PAYLOAD, .args = { 1 } };
	kvm->exception_payload = kvm_check_extension(kvm, KVM_CAP_EXCEPTION_PAYLOAD) > 0 &&
				 ioctl(kvm->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
	/* Dirty logging for snapshots and migration: pages are re-protected only when petrel is
	 * about to copy them (guest_mem.c), not all at once when the log is read. */
	struct kvm_enable_cap manual = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
					 .args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE } };
	kvm->manual_protect = kvm_check_extension(kvm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0 &&
			      ioctl(kvm->vm_fd, KVM_ENABLE_CAP, &manual) == 0;
	log_debug("KVM: exception payloads %s, manual dirty-log protection %s, coalesced MMIO %s",
		  kvm->exception_payload ? "on" : "off", kvm->manual_protect ? "on" : "off",
		  kvm->coalesced.page ? "on" : "off");
	return 0;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->coalesced.ring)
		munmap(kvm->coalesced.ring, kvm->coalesced.map_size);
	kvm->coalesced.ring = NULL;
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->vm_fd = kvm->fd = -1;
}

int kvm_check_extension(struct kvm *kvm, long cap)
{
	int r = ioctl(kvm->vm_fd >= 0 ? kvm->vm_fd : kvm->fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

int kvm_set_user_memory(struct kvm *kvm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
			uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	if (ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		int err = -errno;
		log_error("KVM_SET_USER_MEMORY_REGION slot %u gpa 0x%llx size 0x%llx: %s", slot,
			  (unsigned long long)gpa, (unsigned long long)size, strerror(errno));
		return err;
	}
	return 0;
}

int kvm_slot_take_dirty(struct kvm *kvm, uint32_t slot, uint64_t npages, uint64_t *bitmap)
{
	memset(bitmap, 0, (npages + 63) / 64 * 8);
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };
	if (ioctl(kvm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return -errno;
	if (!kvm->manual_protect)
		return 0;
	struct kvm_clear_dirty_log c = { .slot = slot, .first_page = 0, .num_pages = (uint32_t)npages,
					 .dirty_bitmap = bitmap };
	return ioctl(kvm->vm_fd, KVM_CLEAR_DIRTY_LOG, &c) < 0 ? -errno : 0;
}

/* KVM's 8259s start as after a hardware reset: vector base 0 and no line masked, so an
 * interrupt the guest never asked for arrives on an exception's vector. A PC's firmware
 * programs them before any OS runs (vectors 0x08 and 0x70, lines masked); petrel starts
 * guests without firmware, so it does the same: bases 0x08/0x70, every line masked but the
 * cascade. Linux reprograms them early anyway. Without this a test guest that never touched
 * the PIC took the ACPI GED's VM generation ID interrupt (GSI 5), sent after each snapshot
 * load, as a #BR (vector 5). */
static int pic_as_firmware_leaves_it(struct kvm *kvm)
{
	static const struct { uint32_t chip; uint8_t base, imr; } pics[] = {
		{ KVM_IRQCHIP_PIC_MASTER, 0x08, 0xfb }, /* IRQ 2: the slave */
		{ KVM_IRQCHIP_PIC_SLAVE, 0x70, 0xff },
	};
	for (size_t i = 0; i < sizeof(pics) / sizeof(pics[0]); i++) {
		struct kvm_irqchip c = { .chip_id = pics[i].chip };
		if (ioctl(kvm->vm_fd, KVM_GET_IRQCHIP, &c) < 0)
			return -errno;
		c.chip.pic.irq_base = pics[i].base;
		c.chip.pic.imr = pics[i].imr;
		c.chip.pic.init4 = 1; /* ICW4 present: 8086 mode, as a BIOS sets it */
		if (ioctl(kvm->vm_fd, KVM_SET_IRQCHIP, &c) < 0) {
			log_error("KVM_SET_IRQCHIP (8259 %zu): %s", i, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

int kvm_create_irqchip(struct kvm *kvm)
{
	/* The TSS and identity-map pages are needed by VMX for real-mode guests; place them
	 * just below the 4 GiB boundary, inside the MMIO hole that guest RAM never uses. */
	if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0) {
		log_error("KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -errno;
	}
	uint64_t idmap = 0xfffbc000ull;
	if (ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		log_error("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_error("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_error("KVM_CREATE_PIT2: %s", strerror(errno));
		return -errno;
	}
	return pic_as_firmware_leaves_it(kvm);
}

int kvm_irq_line(struct kvm *kvm, uint32_t irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = (uint32_t)level };
	if (ioctl(kvm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		return -errno;
	return 0;
}

int kvm_get_supported_cpuid(struct kvm *kvm, struct kvm_cpuid2 **out)
{
	for (uint32_t n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm->fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		int err = errno;
		free(c);
		if (err != E2BIG) {
			log_error("KVM_GET_SUPPORTED_CPUID: %s", strerror(err));
			return -err;
		}
	}
	log_error("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
	return -E2BIG;
}

int kvm_create_vcpu(struct kvm *kvm, unsigned id, int *fd, struct kvm_run **run)
{
	int vfd = ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vfd < 0) {
		int err = -errno;
		log_error("KVM_CREATE_VCPU %u: %s", id, strerror(errno));
		return err;
	}
	void *p = mmap(NULL, kvm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vfd, 0);
	if (p == MAP_FAILED) {
		int err = -errno;
		log_error("mmap kvm_run for vCPU %u: %s", id, strerror(errno));
		close(vfd);
		return err;
	}
	int err = kvm_coalesced_map(kvm, vfd);
	if (err < 0) {
		munmap(p, kvm->run_size);
		close(vfd);
		return err;
	}
	*fd = vfd;
	*run = p;
	return 0;
}

void kvm_destroy_vcpu(struct kvm *kvm, int fd, struct kvm_run *run)
{
	if (run)
		munmap(run, kvm->run_size);
	if (fd >= 0)
		close(fd);
}
