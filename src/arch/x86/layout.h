/* Where petrel puts things in guest physical memory (x86-64). */
#ifndef PETREL_ARCH_X86_LAYOUT_H
#define PETREL_ARCH_X86_LAYOUT_H

#define LAYOUT_GDT            0x500ull     /* boot GDT (6 entries) */
#define LAYOUT_START_INFO     0x6000ull    /* PVH hvm_start_info, modlist, memmap */
#define LAYOUT_ZERO_PAGE      0x7000ull    /* Linux boot_params */
#define LAYOUT_BOOT_STACK     0x8ff0ull
#define LAYOUT_PML4           0x9000ull    /* identity map of 0-4 GiB: PML4, PDPT, 4 PDs */
#define LAYOUT_PDPT           0xa000ull
#define LAYOUT_PD             0xb000ull
#define LAYOUT_CMDLINE        0x20000ull
#define LAYOUT_CMDLINE_MAX    0x10000ull
#define LAYOUT_EBDA           0x9fc00ull   /* reserved: [EBDA, 1 MiB) except ACPI below */
#define LAYOUT_ACPI           0xe0000ull   /* RSDP and ACPI tables live in [0xe0000, 1 MiB) */
#define LAYOUT_ACPI_END       0x100000ull
#define LAYOUT_VMGENID        0xef000ull   /* the VM generation ID (16 bytes): the ACPI area's page
                                            * below 0xf0000, which the MP and SMBIOS scans skip */
#define LAYOUT_KERNEL         0x100000ull  /* bzImage protected-mode code */
#define LAYOUT_MMIO_HOLE      0xc0000000ull /* 3 GiB - 4 GiB: no RAM (IOAPIC, LAPIC, devices) */
#define LAYOUT_PCI_MMIO       0xc0000000ull /* PCI BARs: [3 GiB, 3.25 GiB), the host bridge window */
#define LAYOUT_PCI_MMIO_SIZE  0x10000000ull
#define LAYOUT_VIRTIO_MMIO    0xd0000000ull /* virtio-mmio devices, 4 KiB apart */
#define LAYOUT_VIRTIO_MMIO_STRIDE 0x1000ull
#define LAYOUT_VIRTIO_MMIO_MAX 32
#define LAYOUT_VIRTIO_MMIO_GSI 20           /* their interrupts: GSI 20-23 (PCI INTx uses 16-19) */
#define LAYOUT_BOOT_TIMER     (LAYOUT_VIRTIO_MMIO + LAYOUT_VIRTIO_MMIO_MAX * LAYOUT_VIRTIO_MMIO_STRIDE)
                                            /* --boot-timer register, one page (0xd0020000) */
#define LAYOUT_GED_GSI        5             /* the ACPI GED's interrupt (edge): an unused ISA IRQ */
#define LAYOUT_IOAPIC         0xfec00000ull
#define LAYOUT_LAPIC          0xfee00000ull

#endif
