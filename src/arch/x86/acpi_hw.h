/* The machine's ACPI hardware interface: the I/O ports and register bits that the tables
 * (acpi.c, acpi_cpus.c) describe to the guest and the devices (devices/legacy/acpi_pm.h,
 * ged.h, cpu_hotplug.h) implement. One place, below both, so they cannot disagree. */
#ifndef PETREL_ARCH_X86_ACPI_HW_H
#define PETREL_ARCH_X86_ACPI_HW_H

/* ACPI fixed-hardware power management (acpi_pm.h): PM1a event/control blocks, the FADT
 * reset register and the PM timer. The block sits at ACPI_PM_BASE unless PIIX4's PMBA moves it
 * (firmware boot: devices/chipset/piix.h). */
#define ACPI_PM_BASE 0x600
#define ACPI_PM1_EVT_OFF 0   /* PM1_STS (2 bytes), PM1_EN (2 bytes) */
#define ACPI_PM1_CNT_OFF 4   /* PM1_CNT (2 bytes) */
#define ACPI_RESET_OFF 6     /* reset register (1 byte) */
#define ACPI_PM_TMR_OFF 8    /* PM timer (4 bytes: a 24-bit count at ACPI_PM_TMR_HZ) */
#define ACPI_PM_TMR_LEN 4
#define ACPI_PM_TMR_HZ 3579545
#define ACPI_PM_LEN 12
#define ACPI_RESET_VALUE 0x01
#define ACPI_S5_TYP 5        /* must match the _S5_ package in the DSDT */
#define ACPI_SCI_IRQ 9

/* The Generic Event Device (ged.h): its event register and the event bits _EVT handles. */
#define GED_PORT 0x610           /* the event register (4 bytes), next to the ACPI PM block */
#define GED_LEN 4
#define GED_EVT_VMGENID (1u << 0) /* the VM generation ID changed: Notify (\_SB.VGEN, 0x80) */
#define GED_EVT_CPU_HOTPLUG (1u << 1) /* a vCPU comes or is asked to go: \_SB.CPUS.CSCN () */
#define GED_EVT_ALL (GED_EVT_VMGENID | GED_EVT_CPU_HOTPLUG)

/* The CPU hot-plug register block (cpu_hotplug.h, which documents the registers). */
#define CPUHP_PORT 0x620
#define CPUHP_LEN 8
#define CPUHP_SEL_OFF 0
#define CPUHP_STATUS_OFF 4
#define CPUHP_ST_PRESENT (1u << 0)
#define CPUHP_ST_INSERTING (1u << 1)
#define CPUHP_ST_REMOVING (1u << 2)
#define CPUHP_CTL_EJECT (1u << 3)

#endif
