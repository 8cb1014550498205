/* The DSDT's processor container for vCPU hot-plug: \_SB.CPUS (ACPI0010) with one processor
 * device (ACPI0007) per possible vCPU, over the register block of devices/legacy/cpu_hotplug.h.
 * In ASL:
 *
 *   Device (CPUS) {
 *     Name (_HID, "ACPI0010")  Name (_CID, EisaId ("PNP0A05"))
 *     Mutex (CPLK, 0)
 *     OperationRegion (PRST, SystemIO, port, 8)
 *     Field (PRST, DWordAcc, NoLock, Preserve) { CSEL, 32 }
 *     Field (PRST, ByteAcc, NoLock, WriteAsZeros) { Offset (4), CPEN, 1, CINS, 1, CRMV, 1, CEJF, 1 }
 *     Method (CSTA, 1, Serialized) { Acquire (CPLK, 0xFFFF)  CSEL = Arg0  Local0 = Zero
 *                                    If (CPEN == One) { Local0 = 0x0F }  Release (CPLK)
 *                                    Return (Local0) }
 *     Method (CEJ0, 1, Serialized) { Acquire (CPLK, 0xFFFF)  CSEL = Arg0  CEJF = One
 *                                    Release (CPLK) }
 *     Method (CTFY, 2) { If (Arg0 == 0) { Notify (C000, Arg1) } ... one If per vCPU }
 *     Method (CSCN, 0, Serialized) {
 *       Acquire (CPLK, 0xFFFF)  Local0 = Zero
 *       While (Local0 < max) {
 *         CSEL = Local0
 *         If (CINS == One) { CTFY (Local0, One)  CINS = One }     -- device check: it came
 *         If (CRMV == One) { CTFY (Local0, 0x03)  CRMV = One }    -- eject request (the
 *                                      write changes nothing: it stays pending until _EJ0)
 *         Local0++ }
 *       Release (CPLK) }
 *     Device (C000) { Name (_HID, "ACPI0007")  Name (_UID, 0)
 *                     Method (_STA) { Return (CSTA (0)) }
 *                     Name (_MAT, Buffer (8) { LAPIC entry: UID 0, APIC ID 0, enabled })
 *                     Method (_EJ0, 1) { CEJ0 (0) }          -- not on C000, the boot CPU
 *     } ...
 *   }
 *
 * _UID and the APIC ID are the vCPU index, as in the MADT. _MAT always says enabled: Linux
 * reads the APIC ID of a CPU it hot-adds from it, and refuses a disabled entry; _STA decides
 * whether the CPU is there. The GED's _EVT calls \_SB.CPUS.CSCN on GED_EVT_CPU_HOTPLUG. */
#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/acpi_hw.h"

#include <stdio.h>

static void cpu_name(char seg[5], unsigned i)
{
	snprintf(seg, 5, "C%03X", i & 0xfff);
}

/* Acquire (CPLK, 0xFFFF); CSEL = Arg0 */
static void lock_and_select(struct aml *a, uint8_t what)
{
	aml_acquire(a, "CPLK", 0xffff);
	aml_byte(a, AML_STORE);
	aml_byte(a, what);
	aml_path(a, "CSEL");
}

/* If (FIELD == One) { CTFY (Local0, event)  FIELD = One } */
static void scan_bit(struct aml *a, const char *field, uint8_t event)
{
	size_t i = aml_if(a);
	aml_byte(a, AML_LEQUAL);
	aml_path(a, field);
	aml_byte(a, AML_ONE);
	aml_path(a, "CTFY");
	aml_byte(a, AML_LOCAL0);
	aml_int(a, event);
	aml_byte(a, AML_STORE);
	aml_byte(a, AML_ONE);
	aml_path(a, field);
	aml_close(a, i);
}

static void build_methods(struct aml *a, unsigned max)
{
	char seg[5];
	size_t m = aml_method(a, "CSTA", 1, true);
	lock_and_select(a, AML_ARG0);
	aml_byte(a, AML_STORE);
	aml_byte(a, AML_ZERO);
	aml_byte(a, AML_LOCAL0);
	size_t i = aml_if(a);
	aml_byte(a, AML_LEQUAL);
	aml_path(a, "CPEN");
	aml_byte(a, AML_ONE);
	aml_byte(a, AML_STORE);
	aml_int(a, 0x0f);
	aml_byte(a, AML_LOCAL0);
	aml_close(a, i);
	aml_release(a, "CPLK");
	aml_byte(a, AML_RETURN);
	aml_byte(a, AML_LOCAL0);
	aml_close(a, m);

	m = aml_method(a, "CEJ0", 1, true);
	lock_and_select(a, AML_ARG0);
	aml_byte(a, AML_STORE);
	aml_byte(a, AML_ONE);
	aml_path(a, "CEJF");
	aml_release(a, "CPLK");
	aml_close(a, m);

	m = aml_method(a, "CTFY", 2, false);
	for (unsigned c = 0; c < max; c++) {
		i = aml_if(a);
		aml_byte(a, AML_LEQUAL);
		aml_byte(a, AML_ARG0);
		aml_int(a, c);
		cpu_name(seg, c);
		aml_byte(a, AML_NOTIFY);
		aml_path(a, seg);
		aml_byte(a, AML_ARG1);
		aml_close(a, i);
	}
	aml_close(a, m);

	m = aml_method(a, "CSCN", 0, true);
	aml_acquire(a, "CPLK", 0xffff);
	aml_byte(a, AML_STORE);
	aml_byte(a, AML_ZERO);
	aml_byte(a, AML_LOCAL0);
	size_t w = aml_while(a);
	aml_byte(a, AML_LLESS);
	aml_byte(a, AML_LOCAL0);
	aml_int(a, max);
	aml_byte(a, AML_STORE);
	aml_byte(a, AML_LOCAL0);
	aml_path(a, "CSEL");
	scan_bit(a, "CINS", 1); /* device check */
	scan_bit(a, "CRMV", 3); /* eject request */
	aml_byte(a, AML_INCREMENT);
	aml_byte(a, AML_LOCAL0);
	aml_close(a, w);
	aml_release(a, "CPLK");
	aml_close(a, m);
}

static void build_cpu(struct aml *a, unsigned c)
{
	char seg[5];
	cpu_name(seg, c);
	size_t d = aml_device(a, seg);
	aml_name(a, "_HID");
	aml_string(a, "ACPI0007");
	aml_name(a, "_UID");
	aml_int(a, c);
	size_t m = aml_method(a, "_STA", 0, false);
	aml_byte(a, AML_RETURN);
	aml_path(a, "CSTA");
	aml_int(a, c);
	aml_close(a, m);
	const uint8_t mat[8] = { 0, 8, (uint8_t)c, (uint8_t)c, 1, 0, 0, 0 }; /* Processor Local APIC, enabled */
	aml_name(a, "_MAT");
	aml_buffer(a, mat, sizeof(mat));
	if (c) {
		m = aml_method(a, "_EJ0", 1, false);
		aml_path(a, "CEJ0");
		aml_int(a, c);
		aml_close(a, m);
	}
	aml_close(a, d);
}

void acpi_build_cpus(struct aml *a, unsigned max, uint16_t port)
{
	size_t d = aml_device(a, "CPUS");
	aml_name(a, "_HID");
	aml_string(a, "ACPI0010");
	aml_name(a, "_CID");
	aml_byte(a, 0x0c);
	aml_le(a, aml_eisa_id("PNP0A05"), 4);
	aml_mutex(a, "CPLK", 0);
	aml_op_region(a, "PRST", AML_SYSTEM_IO, port, CPUHP_LEN);
	size_t f = aml_field(a, "PRST", AML_FIELD_DWORD_ACC);
	aml_field_unit(a, "CSEL", 32);
	aml_close(a, f);
	f = aml_field(a, "PRST", AML_FIELD_BYTE_ACC | AML_FIELD_WRITE_AS_ZEROS);
	aml_field_skip(a, 8 * CPUHP_STATUS_OFF);
	aml_field_unit(a, "CPEN", 1);
	aml_field_unit(a, "CINS", 1);
	aml_field_unit(a, "CRMV", 1);
	aml_field_unit(a, "CEJF", 1);
	aml_close(a, f);
	build_methods(a, max);
	for (unsigned c = 0; c < max; c++)
		build_cpu(a, c);
	aml_close(a, d);
}
