#include "devices/chipset/i440fx.h"
#include "devices/dev_state.h"

#include <string.h>

#define SMRAM_RESET 0x02          /* C_BASE_SEG = 010b: SMRAM at 0xA0000, hardwired */
#define SMRAM_WMASK 0x78          /* D_OPEN, D_CLS, D_LCK, G_SMRAME */

static void pam_now(struct i440fx *h, uint8_t pam[I440FX_PAM_COUNT])
{
	memcpy(pam, h->pci.st.cfg + I440FX_PAM0, I440FX_PAM_COUNT);
}

static void tell(struct i440fx *h)
{
	uint8_t pam[I440FX_PAM_COUNT];
	pam_now(h, pam);
	if (h->pam_changed)
		h->pam_changed(h->opaque, pam);
}

/* After the generic write stored the writable bits: called with the bus's lock held. */
static void i440fx_cfg_write(struct pci_device *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)data;
	struct i440fx *h = dev->opaque;
	if (off < I440FX_PAM0 + I440FX_PAM_COUNT && off + len > I440FX_PAM0)
		tell(h);
}

static const struct pci_device_ops i440fx_ops = { .cfg_write = i440fx_cfg_write };

static void reset_cfg(struct i440fx *h)
{
	uint8_t *c = h->pci.st.cfg;
	memset(c + I440FX_PAM0, 0, I440FX_PAM_COUNT);
	c[I440FX_SMRAM] = SMRAM_RESET;
	pci_put(c, PCI_COMMAND, 0, 2);
}

int i440fx_init(struct i440fx *h, struct pci_bus *bus, i440fx_pam_fn pam_changed, void *opaque)
{
	memset(h, 0, sizeof(*h));
	pci_device_init(&h->pci, "i440fx", I440FX_VENDOR, I440FX_DEVICE, 0x060000, 0x02, 0x1af4, 0x1100,
			&i440fx_ops, h);
	h->pam_changed = pam_changed;
	h->opaque = opaque;
	struct pci_device *d = &h->pci;
	d->wmask[PCI_INTERRUPT_LINE] = 0;           /* no interrupt */
	d->wmask[I440FX_PAM0] = 0x30;               /* PAM0's low nibble is reserved */
	memset(d->wmask + I440FX_PAM0 + 1, 0x33, I440FX_PAM_COUNT - 1);
	d->wmask[I440FX_SMRAM] = SMRAM_WMASK;
	reset_cfg(h);
	return pci_bus_add_at(bus, d, 0, 0);
}

static void reset_locked(struct pci_device *dev, void *arg)
{
	(void)arg;
	reset_cfg(dev->opaque);
	tell(dev->opaque);
}

void i440fx_reset(struct i440fx *h)
{
	pci_device_locked(&h->pci, reset_locked, NULL);
}

static void pam_locked(struct pci_device *dev, void *arg)
{
	pam_now(dev->opaque, arg);
}

void i440fx_pam(struct i440fx *h, uint8_t pam[I440FX_PAM_COUNT])
{
	pci_device_locked(&h->pci, pam_locked, pam);
}

static void tell_locked(struct pci_device *dev, void *arg)
{
	(void)arg;
	tell(dev->opaque);
}

/* ---- saved state (section I44F, docs/snapshots.md): the configuration space ---- */

static void i440fx_save_state(void *dev, struct enc *e)
{
	struct i440fx *h = dev;
	pci_device_save_cfg(&h->pci, e);
}

static int i440fx_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct i440fx *h = dev;
	struct pci_config_state st;
	get_bytes(d, st.cfg, sizeof(st.cfg));
	int e = dec_end(d, "i440FX host bridge (I44F)", err, errlen);
	if (e == 0)
		e = pci_device_restore(&h->pci, &st, err, errlen);
	if (e == 0)
		pci_device_locked(&h->pci, tell_locked, NULL);
	return e;
}

const struct dev_state_ops i440fx_state_ops = {
	.id = STATE_ID('I', '4', '4', 'F'), .version = 1,
	.save = i440fx_save_state, .load = i440fx_load_state,
};
