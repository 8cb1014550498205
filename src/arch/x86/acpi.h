/* ACPI tables for the guest: RSDP, XSDT/RSDT, FADT (+FACS, DSDT with _S5), MADT. */
#ifndef PETREL_ARCH_X86_ACPI_H
#define PETREL_ARCH_X86_ACPI_H

#include <stdint.h>

struct guest_mem;

/* Writes the tables into [LAYOUT_ACPI, LAYOUT_ACPI_END) and returns the RSDP address in
 * *rsdp. ncpus local APICs with IDs 0..ncpus-1 are listed. */
int acpi_build(struct guest_mem *mem, unsigned ncpus, uint64_t *rsdp);

#endif
