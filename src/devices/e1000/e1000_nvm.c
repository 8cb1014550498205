/* The E1000's EEPROM and PHY.
 *
 * EEPROM: 64 16-bit words of a Microwire serial EEPROM (EECD.SIZE clear: 6 address bits). Words
 * 0..2 hold the MAC address, 0x0b..0x0e the subsystem and device IDs, and the sum of all 64
 * words is 0xbaba (word 0x3f makes it so), which Linux's e1000 checks before it uses the card.
 * A driver reads it either through EERD (write START and an address, read DONE and the data)
 * or by bit-banging EECD: request (REQ, the card grants GNT), chip select, then on each rising
 * SK edge one bit of DI: a start bit and the READ opcode (110b), six address bits; after
 * them each rising edge puts the next data bit on DO, most significant first (a read runs on
 * to the next word). Writes to the EEPROM are ignored: it is read-only to the guest.
 *
 * PHY: an internal Marvell 88E1011-like PHY at MDIO address 1, reached through MDIC. The link
 * is up (the tap is), auto-negotiation completes the moment the driver starts it: it advertises
 * 1000BASE-T full duplex and so does the link partner; the PHY-specific status says 1000 Mb/s
 * full duplex, resolved.
 */
#include "devices/e1000/e1000_int.h"

/* EEPROM words */
#define EE_MAC 0x00
#define EE_IMAGE_VERSION 0x05
#define EE_PBA 0x08
#define EE_ICW1 0x0a
#define EE_SUBSYS_ID 0x0b
#define EE_SUBSYS_VENDOR 0x0c
#define EE_DEVICE_ID 0x0d
#define EE_VENDOR_ID 0x0e
#define EE_ICW2 0x0f
#define EE_CHECKSUM 0x3f
#define EE_SUM 0xbaba
#define EE_OP_READ 0x6          /* start bit + 10b */
#define EE_ADDR_BITS 6
#define EE_SUBSYS 0x001e        /* as the 82540EM's reference boards */

/* PHY registers and bits (IEEE 802.3 clause 22, and Marvell's 16..) */
#define PHY_CTRL 0
#define PHY_STATUS 1
#define PHY_ID1 2
#define PHY_ID2 3
#define PHY_ADV 4
#define PHY_LP_ABILITY 5
#define PHY_AN_EXP 6
#define PHY_1000T_CTRL 9
#define PHY_1000T_STATUS 10
#define PHY_EXT_STATUS 15
#define PHY_M88_SPEC_CTRL 16
#define PHY_M88_SPEC_STATUS 17
#define PHY_M88_EXT_SPEC_CTRL 20
#define PHY_ADDR 1
#define MII_CR_RESET 0x8000
#define MII_CR_AN_EN 0x1000
#define MII_CR_AN_RESTART 0x0200
#define MII_SR_LINK 0x0004
#define MII_SR_AN_DONE 0x0020
#define M88_STATUS_LINK 0x0400

/* Registers the driver may write (the rest are read-only status). */
static const uint32_t phy_writable = 1u << PHY_CTRL | 1u << PHY_ADV | 1u << 7 | 1u << PHY_1000T_CTRL |
				     1u << PHY_M88_SPEC_CTRL | 1u << 18 | 1u << PHY_M88_EXT_SPEC_CTRL |
				     1u << 22 | 1u << 24 | 1u << 26 | 1u << 29 | 1u << 30;

void e1000_eeprom_init(struct e1000 *e)
{
	uint16_t *w = e->st.eeprom;
	for (unsigned i = 0; i < E1000_EEPROM_WORDS; i++)
		w[i] = 0xffff;
	for (unsigned i = 0; i < 3; i++)
		w[EE_MAC + i] = (uint16_t)(e->mac[2 * i] | e->mac[2 * i + 1] << 8);
	w[3] = w[4] = 0;
	w[EE_IMAGE_VERSION] = 0x0100;
	w[EE_PBA] = 0x5045;           /* "PE" */
	w[EE_PBA + 1] = 0x4000;
	w[EE_ICW1] = 0x0003;          /* load the IDs below */
	w[EE_SUBSYS_ID] = EE_SUBSYS;
	w[EE_SUBSYS_VENDOR] = E1000_VENDOR_INTEL;
	w[EE_DEVICE_ID] = E1000_DEV_82540EM;
	w[EE_VENDOR_ID] = E1000_VENDOR_INTEL;
	w[EE_ICW2] = 0x0000;          /* no pause frames: a tap has no flow control */
	w[0x24] = 0x0000;             /* no wake-up */
	uint16_t sum = 0;
	for (unsigned i = 0; i < EE_CHECKSUM; i++)
		sum = (uint16_t)(sum + w[i]);
	w[EE_CHECKSUM] = (uint16_t)(EE_SUM - sum);
}

uint32_t e1000_eecd_read(const struct e1000 *e)
{
	const struct e1000_eecd *s = &e->st.eecd;
	uint32_t v = (s->latch & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_FWE |
				  E1000_EECD_REQ)) | E1000_EECD_PRES;
	if (s->latch & E1000_EECD_REQ)
		v |= E1000_EECD_GNT;
	if (s->reading && s->nout >= 1 && s->nout <= 16 &&
	    (e->st.eeprom[s->addr % E1000_EEPROM_WORDS] >> (16 - s->nout)) & 1)
		v |= E1000_EECD_DO;
	return v;
}

void e1000_eecd_write(struct e1000 *e, uint32_t val)
{
	struct e1000_eecd *s = &e->st.eecd;
	uint32_t old = s->latch;
	s->latch = val;
	if (!(val & E1000_EECD_CS)) {
		/* chip deselected: the next command starts from scratch */
		s->in = 0;
		s->nin = 0;
		s->reading = 0;
		s->nout = 0;
		return;
	}
	if (!(val & E1000_EECD_SK) || (old & E1000_EECD_SK) || !(old & E1000_EECD_CS))
		return;   /* only rising clock edges while selected count */
	if (s->reading) {
		if (++s->nout > 16) {   /* sequential read: the next word */
			s->addr = (uint16_t)((s->addr + 1) % E1000_EEPROM_WORDS);
			s->nout = 1;
		}
		return;
	}
	if (s->nin == 0 && !(val & E1000_EECD_DI))
		return;   /* leading zeros before the start bit */
	s->in = (uint16_t)(s->in << 1 | ((val & E1000_EECD_DI) ? 1 : 0));
	if (++s->nin < 3 + EE_ADDR_BITS)
		return;
	if ((s->in >> EE_ADDR_BITS) == EE_OP_READ) {
		s->reading = 1;
		s->addr = s->in & (E1000_EEPROM_WORDS - 1);
		s->nout = 0;
	}
	/* other opcodes (erase/write enable, write, erase) are ignored: the EEPROM is read-only */
	s->in = 0;
	s->nin = 0;
}

uint32_t e1000_eerd_write(struct e1000 *e, uint32_t val)
{
	if (!(val & E1000_EERD_START))
		return val & ~E1000_EERD_DONE;
	uint32_t addr = (val >> E1000_EERD_ADDR_SHIFT) & 0xff;
	uint32_t data = addr < E1000_EEPROM_WORDS ? e->st.eeprom[addr] : 0xffff;
	return addr << E1000_EERD_ADDR_SHIFT | data << E1000_EERD_DATA_SHIFT | E1000_EERD_DONE;
}

static void phy_link_bits(struct e1000 *e, bool up)
{
	uint16_t *p = e->st.phy;
	if (up) {
		p[PHY_STATUS] |= MII_SR_LINK | MII_SR_AN_DONE;
		p[PHY_M88_SPEC_STATUS] |= M88_STATUS_LINK;
		p[PHY_LP_ABILITY] = 0x45e1;    /* ack, pause, 100/10 full/half, 802.3 */
		p[PHY_1000T_STATUS] = 0x3c00;  /* receivers OK, partner 1000 full/half */
		p[PHY_AN_EXP] = 0x0001;        /* partner can auto-negotiate */
	} else {
		p[PHY_STATUS] &= (uint16_t)~(MII_SR_LINK | MII_SR_AN_DONE);
		p[PHY_M88_SPEC_STATUS] &= (uint16_t)~M88_STATUS_LINK;
		p[PHY_LP_ABILITY] = 0;
		p[PHY_1000T_STATUS] = 0;
	}
}

void e1000_phy_reset(struct e1000 *e)
{
	uint16_t *p = e->st.phy;
	memset(p, 0, sizeof(e->st.phy));
	p[PHY_CTRL] = 0x1140;               /* auto-negotiation on, full duplex, 1000 Mb/s */
	p[PHY_STATUS] = 0x7949;             /* 100/10 full/half, extended status, AN able */
	p[PHY_ID1] = 0x0141;                /* Marvell 88E1011 */
	p[PHY_ID2] = 0x0c20;
	p[PHY_ADV] = 0x01e1;
	p[PHY_1000T_CTRL] = 0x0300;
	p[PHY_EXT_STATUS] = 0x3000;         /* 1000BASE-T full/half capable */
	p[PHY_M88_SPEC_CTRL] = 0x0068;
	p[PHY_M88_SPEC_STATUS] = 0xa800;    /* 1000 Mb/s, full duplex, resolved */
	p[PHY_M88_EXT_SPEC_CTRL] = 0x0c60;
	phy_link_bits(e, true);
}

void e1000_set_link(struct e1000 *e, bool up)
{
	phy_link_bits(e, up);
	if (up)
		e->st.status |= E1000_STATUS_LU;
	else
		e->st.status &= ~E1000_STATUS_LU;
	e1000_raise(e, E1000_ICR_LSC);
}

static void phy_write(struct e1000 *e, unsigned reg, uint16_t v)
{
	if (!(phy_writable & (1u << reg)))
		return;
	if (reg != PHY_CTRL) {
		e->st.phy[reg] = v;
		return;
	}
	if (v & MII_CR_RESET) {
		e1000_phy_reset(e);
		e->st.phy[PHY_CTRL] = (uint16_t)(v & ~(MII_CR_RESET | MII_CR_AN_RESTART));
		return;
	}
	e->st.phy[PHY_CTRL] = (uint16_t)(v & ~MII_CR_AN_RESTART);
	if ((v & MII_CR_AN_EN) && (v & MII_CR_AN_RESTART))
		e1000_set_link(e, true);   /* negotiated at once: the partner is petrel */
}

void e1000_mdic_write(struct e1000 *e, uint32_t val)
{
	unsigned reg = (val >> E1000_MDIC_REG_SHIFT) & 0x1f;
	unsigned phy = (val >> E1000_MDIC_PHY_SHIFT) & 0x1f;
	uint32_t out = val & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);
	if (phy != PHY_ADDR) {
		out |= E1000_MDIC_ERROR;   /* nothing answers at that address */
	} else if ((val & (E1000_MDIC_OP_READ | E1000_MDIC_OP_WRITE)) == E1000_MDIC_OP_READ) {
		out = (out & ~E1000_MDIC_DATA) | e->st.phy[reg];
	} else if ((val & (E1000_MDIC_OP_READ | E1000_MDIC_OP_WRITE)) == E1000_MDIC_OP_WRITE) {
		phy_write(e, reg, (uint16_t)(val & E1000_MDIC_DATA));
	} else {
		out |= E1000_MDIC_ERROR;   /* reserved opcode */
	}
	e->st.mdic = out | E1000_MDIC_READY;
	if (val & E1000_MDIC_INT_EN)
		e1000_raise(e, E1000_ICR_MDAC);
}
