/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reboot: a reset of the machine boots this guest again (petrel's reset, src/vm/vm_reset.c).
 * It counts its boots in CMOS byte 0x7e (battery-backed memory: a reset keeps it, as on a PC)
 * and resets the machine until it has booted resets+1 times (cmdline resets=N, default 3),
 * through mode=i8042 (0xfe to port 0x64), acpi (the FADT's reset register, port 0x606),
 * triple (a triple fault) or all (each in turn). Every boot checks:
 *  - a word of its own image that the boot before overwrote has its initial value again (the
 *    kernel image was loaded again: the old boot's RAM changes do not leak into the new one),
 *    and a word of its bss is zero (the ELF loader zeroes an ELF's bss; a bzImage's kernel
 *    clears its own, as Linux does, which this guest does not: bss=0 skips the check);
 *  - with rng=1: the virtio-rng device is as created (status 0) and gives random bytes once
 *    the driver set it up again (devices work after a reset).
 * Prints "reboot: boot N" and its command line at each boot (a boot loader may change it from one
 * boot to the next) and passes at the last. With hold=1 the last boot prints
 * "reboot: holding" and waits for a console byte (a snapshot is taken and restored meanwhile),
 * then resets once more and passes at the boot after.
 */
#include "virtio_common.h"

DEFINE_GUEST("reboot");

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define BOOT_COUNT_BYTE 0x7e
#define IMAGE_WORD 0x5eedf00du

static volatile uint32_t image_word = IMAGE_WORD; /* .data: the loaded image's */
static volatile uint32_t bss_word;

static uint8_t cmos_read(uint8_t idx)
{
	outb(CMOS_INDEX, idx);
	return inb(CMOS_DATA);
}

static void cmos_write(uint8_t idx, uint8_t v)
{
	outb(CMOS_INDEX, idx);
	outb(CMOS_DATA, v);
}

static struct vdev dev;
static struct vq vq;
static struct vq_mem ring;
static uint8_t buf[64];

static long use_rng(long arg)
{
	(void)arg;
	uint64_t feats;
	check(vdev_negotiate(&dev, VF_VERSION_1, &feats), "virtio-rng refused FEATURES_OK");
	check(vq_setup(&dev, &vq, 0, &ring, 16, 0xffff), "virtio-rng: queue setup failed");
	vdev_driver_ok(&dev);
	struct vbuf b = { buf, sizeof(buf), true };
	vq_add(&vq, &b, 1);
	vq_kick(&vq);
	uint32_t id, len;
	check(vq_wait(&vq, &id, &len, 10), "virtio-rng: no completion");
	check(len == sizeof(buf), "virtio-rng: %u bytes, expected %u", len, (unsigned)sizeof(buf));
	unsigned same = 0;
	for (unsigned i = 0; i < sizeof(buf); i++)
		same += buf[i] == buf[0];
	check(same < 16, "virtio-rng: the bytes look constant (%u equal)", same);
	return 0;
}

static void reset_by(const char *how)
{
	if (!strcmp(how, "triple")) {
		struct {
			uint16_t limit;
			uint64_t base;
		} __attribute__((packed)) idtr = { 0, 0 };
		__asm__ __volatile__("lidt %0; ud2" ::"m"(idtr));
	} else if (!strcmp(how, "acpi")) {
		outb(0x606, 0x01);
	} else {
		outb(0x64, 0xfe);
	}
}

static void print_cmdline(void)
{
	printf("reboot: cmdline \"%s\"\n", boot.cmdline);
}

void test_main(void)
{
	unsigned boot = cmos_read(BOOT_COUNT_BYTE);
	long resets = cmdline_int("resets", 3);
	printf("reboot: boot %u\n", boot);
	print_cmdline();
	check(image_word == IMAGE_WORD, "boot %u: the image word is 0x%x: the old boot's write survived the reset",
	      boot, image_word);
	check(bss_word == 0 || !cmdline_int("bss", 1), "boot %u: the bss word is 0x%x", boot, bss_word);
	if (cmdline_int("rng", 0)) {
		vdev_find_on_cmdline_transport(VIRTIO_ID_RNG, &dev);
		check(vdev_status(&dev) == 0, "boot %u: virtio-rng status 0x%x at boot, expected 0", boot,
		      vdev_status(&dev));
		user_call(use_rng, 0, USER_IF);
		printf("reboot: virtio-rng ok\n");
	}
	if ((long)boot > resets || ((long)boot == resets && !cmdline_int("hold", 0)))
		pass();
	if ((long)boot == resets) {
		printf("reboot: holding\n");
		while (!(inb(COM1 + UART_LSR) & LSR_DR))
			pause();
		(void)inb(COM1 + UART_RBR);
	}
	/* leave marks the next boot must not see, then reset */
	image_word = 0xdead0000u | boot;
	bss_word = 0xbad00000u | boot;
	cmos_write(BOOT_COUNT_BYTE, (uint8_t)(boot + 1));
	static const char *const all[] = { "i8042", "acpi", "triple" };
	const char *how = cmdline_is("mode", "all") ? all[boot % 3]
			  : cmdline_is("mode", "acpi")  ? "acpi"
			  : cmdline_is("mode", "triple") ? "triple"
							 : "i8042";
	printf("reboot: reset by %s\n", how);
	reset_by(how);
	fail("still running after the reset");
}
