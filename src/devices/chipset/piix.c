#include "devices/chipset/piix.h"
#include "devices/dev_state.h"
#include "devices/legacy/acpi_pm.h"

#include <string.h>

#define PIIX_VENDOR 0x8086
#define PIIX3_ISA_DEVICE 0x7000
#define PIIX4_PM_DEVICE 0x7113
#define PIRQRC_RESET 0x80          /* IRQROUTEN off: routed nowhere */
#define PM_IRQ 9                   /* the SCI, hardwired */

/* Where PMBA and PMREGMISC say the PM block decodes. */
static void pm_place(const struct pci_device *pm, uint16_t *base, bool *on)
{
	*base = (uint16_t)(pci_get(pm->st.cfg, PIIX_PMBA, 4) & 0xffc0);
	*on = pm->st.cfg[PIIX_PMREGMISC] & 1;
}

static void pm_apply(struct piix *p)
{
	uint16_t base;
	bool on;
	pm_place(&p->pm, &base, &on);
	acpi_pm_move(p->acpi, p->pio, base, on); /* a refused place is logged there */
}

/* After the generic write stored the writable bits; the bus's lock held. */
static void pm_cfg_write(struct pci_device *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)data;
	if ((off < PIIX_PMBA + 4 && off + len > PIIX_PMBA) || (off <= PIIX_PMREGMISC && off + len > PIIX_PMREGMISC))
		pm_apply(dev->opaque);
}

static const struct pci_device_ops pm_ops = { .cfg_write = pm_cfg_write };

static void reset_isa(struct pci_device *d)
{
	memset(d->st.cfg + PIIX_PIRQRC, PIRQRC_RESET, 4);
	pci_put(d->st.cfg, PCI_COMMAND, 0, 2);
	d->st.cfg[PCI_INTERRUPT_LINE] = 0;
}

static void reset_pm(struct pci_device *d)
{
	uint8_t *c = d->st.cfg;
	pci_put(c, PCI_COMMAND, 0, 2);
	c[PCI_INTERRUPT_LINE] = PM_IRQ;
	pci_put(c, PIIX_PMBA, 1, 4);                 /* bit 0: an I/O space base */
	c[PIIX_PMREGMISC] = 0;
	pci_put(c, PIIX_SMBBA, 1, 4);
	c[PIIX_SMBHSTCFG] = 0;
}

int piix_init(struct piix *p, struct pci_bus *bus, struct acpi_pm *pm, struct bus *pio)
{
	memset(p, 0, sizeof(*p));
	p->acpi = pm;
	p->pio = pio;
	struct pci_device *isa = &p->isa, *d = &p->pm;
	pci_device_init(isa, "piix3-isa", PIIX_VENDOR, PIIX3_ISA_DEVICE, 0x060100, 0, 0x1af4, 0x1100, NULL, p);
	isa->st.cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_MULTI;
	memset(isa->wmask + PIIX_PIRQRC, 0x8f, 4);    /* IRQROUTEN and the IRQ number */
	reset_isa(isa);

	pci_device_init(d, "piix4-pm", PIIX_VENDOR, PIIX4_PM_DEVICE, 0x068000, 0x03, 0x1af4, 0x1100, &pm_ops, p);
	d->st.cfg[PCI_INTERRUPT_PIN] = 1;
	pci_put(d->wmask, PIIX_PMBA, 0xffc0, 4);       /* I/O base bits 15:6 */
	d->wmask[PIIX_PMREGMISC] = 0x01;
	pci_put(d->st.cfg, PIIX_DEVACTB, PIIX_DEVACTB_APMC_EN, 4);
	pci_put(d->wmask, PIIX_SMBBA, 0xfff0, 4);      /* SMBus base bits 15:4 */
	d->wmask[PIIX_SMBHSTCFG] = 0x0f;
	reset_pm(d);

	int e = pci_bus_add_at(bus, isa, PIIX_SLOT, PIIX_ISA_FN);
	if (e == 0)
		e = pci_bus_add_at(bus, d, PIIX_SLOT, PIIX_PM_FN);
	if (e == 0)
		pm_apply(p);
	return e;
}

static void reset_locked(struct pci_device *dev, void *arg)
{
	struct piix *p = arg;
	(void)dev;
	reset_isa(&p->isa);
	reset_pm(&p->pm);
	pm_apply(p);
}

static void apply_locked(struct pci_device *dev, void *arg)
{
	(void)dev;
	pm_apply(arg);
}

void piix_reset(struct piix *p)
{
	pci_device_locked(&p->pm, reset_locked, p);
}

/* ---- saved state (section PIIX, docs/snapshots.md) ---- */

static void piix_save_state(void *dev, struct enc *e)
{
	struct piix *p = dev;
	pci_device_save_cfg(&p->isa, e);
	pci_device_save_cfg(&p->pm, e);
}

static int piix_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct piix *p = dev;
	struct pci_config_state isa, pm;
	get_bytes(d, isa.cfg, sizeof(isa.cfg));
	get_bytes(d, pm.cfg, sizeof(pm.cfg));
	int e = dec_end(d, "PIIX (PIIX)", err, errlen);
	if (e == 0)
		e = pci_device_check(&p->isa, &isa, err, errlen);
	if (e == 0)
		e = pci_device_check(&p->pm, &pm, err, errlen);
	if (e < 0)
		return e;
	pci_device_restore(&p->isa, &isa, err, errlen);
	pci_device_restore(&p->pm, &pm, err, errlen);
	pci_device_locked(&p->pm, apply_locked, p);
	return 0;
}

const struct dev_state_ops piix_state_ops = {
	.id = STATE_ID('P', 'I', 'I', 'X'), .version = 1,
	.save = piix_save_state, .load = piix_load_state,
};
