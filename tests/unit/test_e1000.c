/* Unit tests for the E1000 (src/devices/e1000): PCI identity and BARs, the register file,
 * EEPROM (EERD and the bit-banged Microwire protocol Linux's e1000 uses), PHY through MDIC,
 * interrupts and ITR, hostile register and descriptor values, save/restore, the "model"
 * configuration and the I/O BAR on a PCI bus. A socket pair stands in for the tap; no KVM.
 * The transmit and receive paths: test_e1000_dma.c. */
#include "unit.h"
#include "fake_e1000.h"

#include "bus/bus.h"
#include "config/devices_config.h"
#include "devices/e1000/e1000_regs.h"

/* ======================= identity, EEPROM, PHY ======================= */

TEST(e1000_pci_identity_and_bars)
{
	REQUIRE_EQ(fe_setup(true), 0);
	const uint8_t *c = fe.pci.st.cfg;
	CHECK_EQ_HEX(le_load(c, 2), 0x8086);
	CHECK_EQ_HEX(le_load(c + 2, 2), 0x100e);
	CHECK_EQ_HEX(le_load(c + 9, 3), 0x020000);          /* Ethernet controller */
	CHECK_EQ(fe.pci.bar_size[0], 0x20000u);
	CHECK(!fe.pci.bar_io[0]);
	CHECK(fe.pci.bar_io[1]);
	CHECK_EQ(c[0x14] & 1, 1);                           /* BAR 1: I/O space */
	/* STATUS: link up, full duplex, 1000 Mb/s */
	uint32_t st = fe_r(E1000_STATUS);
	CHECK(st & E1000_STATUS_LU);
	CHECK(st & E1000_STATUS_FD);
	CHECK_EQ_HEX(st & 0xc0, 0x80);
	/* RA[0] holds the EEPROM's address, valid */
	CHECK_EQ_HEX(fe_r(E1000_RA), 0xe1000002u);
	CHECK_EQ_HEX(fe_r(E1000_RA + 4), 0x80000100u);
	/* the I/O window reaches the same registers */
	uint8_t b[4];
	le_store(b, E1000_STATUS, 4);
	e1000_bar_write(&fe, 1, 0, b, 4);
	e1000_bar_read(&fe, 1, 4, b, 4);
	CHECK_EQ_HEX(le_load(b, 4), st);
	le_store(b, E1000_IMS, 4);
	e1000_bar_write(&fe, 1, 0, b, 4);
	le_store(b, E1000_ICR_RXT0, 4);
	e1000_bar_write(&fe, 1, 4, b, 4);
	CHECK_EQ_HEX(fe_r(E1000_IMS), E1000_ICR_RXT0);
	fe_teardown();
}

TEST(e1000_eeprom_through_eerd)
{
	REQUIRE_EQ(fe_setup(true), 0);
	uint16_t w[64];
	uint16_t sum = 0;
	for (unsigned i = 0; i < 64; i++) {
		fe_w(E1000_EERD, i << 8 | E1000_EERD_START);
		uint32_t v = fe_r(E1000_EERD);
		CHECK(v & E1000_EERD_DONE);
		w[i] = (uint16_t)(v >> 16);
		sum = (uint16_t)(sum + w[i]);
	}
	CHECK_EQ_HEX(sum, 0xbaba);                 /* e1000_validate_eeprom_checksum */
	CHECK_EQ_HEX(w[0], 0x0002);
	CHECK_EQ_HEX(w[1], 0xe100);
	CHECK_EQ_HEX(w[2], 0x0100);
	CHECK_EQ_HEX(w[0x0d], 0x100e);
	CHECK_EQ_HEX(w[0x0e], 0x8086);
	fe_teardown();
}

/* Linux's e1000_read_eeprom for a Microwire part, step by step. */
static void ee_clock(uint32_t *eecd, bool bit)
{
	*eecd = (*eecd & ~E1000_EECD_DI) | (bit ? E1000_EECD_DI : 0);
	fe_w(E1000_EECD, *eecd);
	fe_w(E1000_EECD, *eecd | E1000_EECD_SK);
	fe_w(E1000_EECD, *eecd);
}

/* 16 data bits out of DO, a rising clock edge each (e1000_shift_in_ee_bits). */
static uint16_t ee_shift_in(uint32_t eecd)
{
	uint16_t data = 0;
	eecd &= ~E1000_EECD_DI;
	for (int i = 0; i < 16; i++) {
		data = (uint16_t)(data << 1);
		fe_w(E1000_EECD, eecd | E1000_EECD_SK);
		if (fe_r(E1000_EECD) & E1000_EECD_DO)
			data |= 1;
		fe_w(E1000_EECD, eecd);
	}
	return data;
}

static uint16_t ee_read_bitbang(unsigned addr)
{
	uint32_t eecd = fe_r(E1000_EECD);
	fe_w(E1000_EECD, eecd | E1000_EECD_REQ);
	eecd = fe_r(E1000_EECD);
	if (!(eecd & E1000_EECD_GNT))
		return 0xdead;
	eecd &= ~(E1000_EECD_DI | E1000_EECD_SK);
	fe_w(E1000_EECD, eecd);
	eecd |= E1000_EECD_CS;
	fe_w(E1000_EECD, eecd);
	for (int i = 2; i >= 0; i--)
		ee_clock(&eecd, (0x6 >> i) & 1);       /* READ: 110 */
	for (int i = 5; i >= 0; i--)
		ee_clock(&eecd, (addr >> i) & 1);
	uint16_t data = ee_shift_in(eecd);
	/* standby, then release */
	eecd &= ~(E1000_EECD_CS | E1000_EECD_SK);
	fe_w(E1000_EECD, eecd);
	fe_w(E1000_EECD, eecd & ~E1000_EECD_REQ);
	return data;
}

TEST(e1000_eeprom_bitbanged_microwire)
{
	REQUIRE_EQ(fe_setup(true), 0);
	CHECK(fe_r(E1000_EECD) & E1000_EECD_PRES);
	CHECK(!(fe_r(E1000_EECD) & E1000_EECD_GNT));   /* granted only on request */
	for (unsigned a = 0; a < 64; a += 7) {
		fe_w(E1000_EERD, a << 8 | E1000_EERD_START);
		CHECK_EQ_HEX(ee_read_bitbang(a), fe_r(E1000_EERD) >> 16);
	}
	CHECK_EQ_HEX(ee_read_bitbang(0), 0x0002);
	CHECK_EQ_HEX(ee_read_bitbang(0x0d), 0x100e);
	fe_teardown();
}

static uint16_t mdic_read(unsigned phy, unsigned reg, uint32_t *raw)
{
	fe_w(E1000_MDIC, reg << 16 | phy << 21 | E1000_MDIC_OP_READ);
	uint32_t v = fe_r(E1000_MDIC);
	if (raw)
		*raw = v;
	return (uint16_t)v;
}

TEST(e1000_phy_through_mdic)
{
	REQUIRE_EQ(fe_setup(true), 0);
	uint32_t raw;
	CHECK_EQ_HEX(mdic_read(1, 2, &raw), 0x0141);    /* M88E1011: e1000_detect_gig_phy */
	CHECK(raw & E1000_MDIC_READY);
	CHECK(!(raw & E1000_MDIC_ERROR));
	CHECK_EQ_HEX(mdic_read(1, 3, NULL) & 0xfff0, 0x0c20);
	CHECK(mdic_read(1, 1, NULL) & 0x0004);           /* link */
	CHECK(mdic_read(1, 1, NULL) & 0x0020);           /* auto-negotiation complete */
	CHECK(mdic_read(1, 17, NULL) & 0x0400);          /* M88 specific status: link */
	mdic_read(2, 1, &raw);
	CHECK(raw & E1000_MDIC_ERROR);                   /* nothing at PHY address 2 */
	/* restart auto-negotiation: done at once, LSC raised */
	fe_r(E1000_ICR);
	fe_w(E1000_MDIC, 0u << 16 | 1u << 21 | E1000_MDIC_OP_WRITE | 0x1200);
	CHECK(fe_r(E1000_MDIC) & E1000_MDIC_READY);
	CHECK(fe_r(E1000_ICR) & E1000_ICR_LSC);
	CHECK_EQ_HEX(mdic_read(1, 0, NULL) & 0x0200, 0);  /* restart self-clears */
	/* advertisement is writable, IDs are not */
	fe_w(E1000_MDIC, 4u << 16 | 1u << 21 | E1000_MDIC_OP_WRITE | 0x0de1);
	CHECK_EQ_HEX(mdic_read(1, 4, NULL), 0x0de1);
	fe_w(E1000_MDIC, 2u << 16 | 1u << 21 | E1000_MDIC_OP_WRITE | 0x1234);
	CHECK_EQ_HEX(mdic_read(1, 2, NULL), 0x0141);
	fe_teardown();
}

/* ======================= interrupts ======================= */

TEST(e1000_icr_ims_and_the_line)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_w(E1000_ICS, E1000_ICR_TXDW);
	CHECK(!fe.irq_level);                  /* masked */
	fe_w(E1000_IMS, E1000_ICR_TXDW | E1000_ICR_RXT0);
	CHECK(fe.irq_level);
	CHECK_EQ_HEX(fe_r(E1000_ICR), E1000_ICR_TXDW);   /* read clears */
	CHECK(!fe.irq_level);
	CHECK_EQ_HEX(fe_r(E1000_ICR), 0);
	fe_w(E1000_ICS, E1000_ICR_RXT0);
	CHECK(fe.irq_level);
	fe_w(E1000_IMC, E1000_ICR_RXT0);
	CHECK(!fe.irq_level);
	fe_w(E1000_ICR, E1000_ICR_RXT0);       /* write-one-to-clear */
	CHECK_EQ_HEX(fe_r(E1000_ICR), 0);
	fe_w(E1000_ICS, 0xffffffffu);
	CHECK_EQ_HEX(fe_r(E1000_ICR), E1000_ICR_VALID);
	fe_teardown();
}

TEST(e1000_itr_throttles_interrupts)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_w(E1000_ITR, 40000);                 /* 40000 * 256 ns = 10.24 ms */
	fe_w(E1000_IMS, E1000_ICR_TXDW);
	fe_w(E1000_ICS, E1000_ICR_TXDW);
	CHECK(fe.irq_level);                     /* the first may go at once */
	fe_r(E1000_ICR);
	fe_w(E1000_ICS, E1000_ICR_TXDW);
	CHECK(!fe.irq_level);                    /* within the interval: it waits */
	e1000_poll(&fe);
	CHECK(!fe.irq_level);
	sleep_us(12000);
	e1000_poll(&fe);                          /* the timer fired */
	CHECK(fe.irq_level);
	CHECK_EQ_HEX(fe_r(E1000_ICR), E1000_ICR_TXDW);
	fe_teardown();
}

/* ======================= hostile drivers ======================= */

TEST(e1000_hostile_rings_and_descriptors)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_tx_ring();
	/* a ring outside RAM: each descriptor that cannot be read is dropped */
	fe_w(E1000_TDBAL, 0xfff00000u);
	fe_w(E1000_TDBAH, 0x7fu);
	fe_w(E1000_TDT, 5);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), -1);
	CHECK(fe.stats.bad_dma > 0);
	CHECK_EQ(fe.stats.tx_malformed, 5u);
	fe.stats.tx_malformed = 0;
	/* the largest ring, head and tail past it */
	fe_w(E1000_TDBAL, TX_RING);
	fe_w(E1000_TDBAH, 0);
	fe_w(E1000_TDLEN, 0xffffffffu);
	CHECK_EQ_HEX(fe_r(E1000_TDLEN), 0xfff80u);
	fe_w(E1000_TDLEN, RING_N * 16);
	fe_w(E1000_TDH, 100);
	fe_w(E1000_TDT, 200);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), -1);
	/* a chain that never ends: no EOP in the whole ring */
	fe_w(E1000_TDH, 0);
	fe_w(E1000_TDT, 0);
	for (unsigned i = 0; i < RING_N; i++)
		fe_txd_legacy(i, TX_BUF, 1000, 0);
	fe_w(E1000_TDT, RING_N - 1);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), -1);
	CHECK_EQ(fe_r(E1000_TDH), 0u);
	/* buffers outside RAM and a packet longer than any: dropped, the ring moves on */
	fe_txd_legacy(0, 0xffffffff000ull, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	for (unsigned i = 1; i < 3; i++)
		fe_txd_data(i, TX_BUF, 0xfffff, i == 2 ? E1000_TXD_CMD_EOP : 0, 0);
	fe_w(E1000_TDT, 3);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), -1);
	CHECK_EQ(fe_r(E1000_TDH), 3u);
	CHECK_EQ(fe.stats.tx_malformed, 2u);
	/* TSO contexts that do not fit the packet */
	fe_txd_ctx(3, 14, 24, 33, 250, 255, 0, 100, E1000_TUCMD_IP | E1000_TUCMD_TCP | E1000_TUCMD_TSE, 255, 0);
	fe_txd_data(4, TX_BUF, 300, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, 3);
	fe_w(E1000_TDT, 5);
	CHECK_EQ(fe_r(E1000_TDH), 5u);
	CHECK_EQ(fe.stats.tx_malformed, 3u);
	/* receive into a ring outside RAM and buffers outside RAM: nothing breaks */
	fe_rx_ring(8, E1000_RCTL_SECRC);
	le_store(rxd(0), 0xfffffffffff00ull, 8);
	uint32_t len = eth(frame, fe_mac, 100, 1);
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 1u);
	fe_w(E1000_RDBAL, 0xfffff000u);
	fe_host_send(frame, len);
	e1000_poll(&fe);
	/* the card still works after a reset */
	fe_w(E1000_CTRL, E1000_CTRL_RST);
	CHECK_EQ(fe_r(E1000_TDLEN), 0u);
	fe_tx_ring();
	fill(fe_ram + TX_BUF, 80, 9);
	fe_txd_legacy(0, TX_BUF, 80, E1000_TXD_CMD_EOP);
	fe_w(E1000_TDT, 1);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), 80);
	fe_teardown();
}

TEST(e1000_register_writes_at_every_offset_and_width)
{
	REQUIRE_EQ(fe_setup(true), 0);
	uint32_t x = 0x12345678;
	for (uint32_t off = 0; off < E1000_BAR0_SIZE; off++) {
		for (uint32_t len = 1; len <= 8; len *= 2) {
			if (off + len > E1000_BAR0_SIZE)
				continue;
			uint8_t b[8];
			for (unsigned i = 0; i < 8; i++) {
				x = x * 1103515245u + 12345u;
				b[i] = (uint8_t)(x >> 16);
			}
			if (off == E1000_CTRL && (b[3] & 0x04))
				b[3] &= (uint8_t)~0x04;   /* resets are fine too, but keep the state busy */
			e1000_bar_write(&fe, 0, off, b, len);
			e1000_bar_read(&fe, 0, off, b, len);
		}
		if ((off & 0xfff) == 0)
			e1000_poll(&fe);
	}
	for (uint32_t off = 0; off < 0x40; off++) {
		uint8_t b[4] = { 0xff, 0xff, 0xff, 0xff };
		e1000_bar_write(&fe, 1, off, b, 4);
		e1000_bar_read(&fe, 1, off, b, 4);
	}
	e1000_poll(&fe);
	/* and the card is a card again after a reset */
	fe_w(E1000_CTRL, E1000_CTRL_RST);
	fe_tx_ring();
	fill(fe_ram + TX_BUF, 80, 9);
	fe_txd_legacy(0, TX_BUF, 80, E1000_TXD_CMD_EOP);
	fe_w(E1000_TDT, 1);
	while (fe_host_recv(frame, sizeof(frame)) >= 0 && le_load(frame, 1) != fe_ram[TX_BUF])
		;
	CHECK_EQ(fe_r(E1000_TDH), 1u);
	fe_teardown();
}

/* ======================= save / restore ======================= */

/* One saved state through the card's load verb. */
static int fe_load(const uint8_t *p, size_t len, char *err, size_t errlen)
{
	struct dec d;
	dec_init(&d, p, len);
	return e1000_state_ops.load(&fe, &d, e1000_state_ops.version, err, errlen);
}

TEST(e1000_save_and_restore)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_tx_ring();
	fe_rx_ring(8, E1000_RCTL_SECRC | E1000_RCTL_BAM);
	fe_w(E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_TXDW);
	fe_w(E1000_ITR, 1000);
	fe_w(E1000_MTA + 40, 0x1234);
	fe_w(E1000_VFTA + 8, 0x80);
	fe_w(E1000_MDIC, 4u << 16 | 1u << 21 | E1000_MDIC_OP_WRITE | 0x0de1);
	fe_txd_ctx(0, 14, 24, 33, 34, 50, 0, 1000, E1000_TUCMD_IP | E1000_TUCMD_TCP, 54, 1448);
	fe_w(E1000_TDT, 1);
	fe_w(E1000_ICS, E1000_ICR_RXT0);
	/* half-way through a bit-banged EEPROM read */
	fe_w(E1000_EECD, E1000_EECD_REQ | E1000_EECD_CS);
	uint32_t eecd = E1000_EECD_REQ | E1000_EECD_CS;
	ee_clock(&eecd, 1);
	ee_clock(&eecd, 1);
	e1000_quiesce(&fe);
	struct enc en;
	enc_init(&en);
	e1000_state_ops.save(&fe, &en);
	REQUIRE_EQ(en.err, 0);
	uint8_t *buf = en.buf;
	size_t n = en.len;
	CHECK_EQ(e1000_state_ops.id, STATE_ID('E', '1', 'K', ' '));
	struct e1000_state before = fe.st;
	fe_teardown();

	REQUIRE_EQ(fe_setup(true), 0);
	char err[256];
	CHECK_EQ(fe_load(buf, n, err, sizeof(err)), 0);
	CHECK(!memcmp(&fe.st, &before, sizeof(before)));
	CHECK(fe.irq_level);                            /* RXT0 pending and unmasked */
	CHECK_EQ_HEX(fe_r(E1000_MTA + 40), 0x1234);
	CHECK_EQ(fe.st.tx_ctx.mss, 1448);
	/* the EEPROM read goes on where it was */
	ee_clock(&eecd, 0);
	for (int i = 5; i >= 0; i--)
		ee_clock(&eecd, (0x0d >> i) & 1);
	uint16_t data = ee_shift_in(eecd);
	CHECK_EQ_HEX(data, 0x100e);
	struct e1000_state kept = fe.st;
	/* a cut or an oversized state: refused with a reason, the card unchanged */
	CHECK_EQ(fe_load(buf, n - 1, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "shorter") != NULL);
	CHECK_EQ(fe_load(buf, PCI_CFG_SIZE + 3, err, sizeof(err)), -EINVAL);
	uint8_t *big = calloc(1, n + 1);
	REQUIRE(big != NULL);
	memcpy(big, buf, n);
	CHECK_EQ(fe_load(big, n + 1, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "bytes more") != NULL);
	free(big);
	CHECK(!memcmp(&fe.st, &kept, sizeof(kept)));
	/* a forged read-only PCI configuration byte (the vendor id): another device, refused */
	buf[0] ^= 0xff;
	CHECK_EQ(fe_load(buf, n, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "PCI configuration") != NULL);
	CHECK(!memcmp(&fe.st, &kept, sizeof(kept)));
	buf[0] ^= 0xff;
	/* a register value no write could leave (rdlen's low bits, a head past 16 bits) is cut */
	size_t regs = PCI_CFG_SIZE;                     /* ctrl, the first of the 32-bit registers */
	buf[regs] ^= 0xff;                              /* ctrl's low byte: not the MAC, taken */
	buf[regs + 18 * 4] |= 0x7f;                     /* rdlen */
	buf[regs + 19 * 4 + 2] = 0x5a;                  /* rdh */
	CHECK_EQ(fe_load(buf, n, err, sizeof(err)), 0);
	CHECK_EQ(fe.st.rdlen & 0x7f, 0u);
	CHECK(fe.st.rdh <= 0xffff);
	CHECK_EQ(fe.st.ctrl & 0xff, (before.ctrl ^ 0xff) & 0xff);
	fe_teardown();
	/* a card whose MAC petrel chose takes the snapshot's */
	REQUIRE_EQ(fe_setup(false), 0);
	CHECK(memcmp(fe.mac, fe_mac, 6) != 0);
	CHECK_EQ(fe_load(buf, n, err, sizeof(err)), 0);
	CHECK(!memcmp(fe.mac, fe_mac, 6));
	fe_teardown();
	/* a configured MAC that is not the snapshot's */
	REQUIRE_EQ(fe_setup(true), 0);
	fe.mac[5] ^= 1;
	kept = fe.st;
	CHECK_EQ(fe_load(buf, n, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "MAC") != NULL);
	CHECK(!memcmp(&fe.st, &kept, sizeof(kept)));
	fe_teardown();
	enc_free(&en);
}

/* ======================= configuration and the PCI bus ======================= */

TEST(e1000_model_in_the_configuration)
{
	struct net_config c;
	char err[256];
	CHECK_EQ(net_config_parse("{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"model\":\"e1000\"}",
				  NULL, &c, err, sizeof(err)), 0);
	CHECK_EQ(c.model, NET_MODEL_E1000);
	json_t *j = net_config_to_json(&c);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "model")), "e1000");
	json_decref(j);
	net_config_free(&c);
	CHECK_EQ(net_config_parse("{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\"}", NULL, &c, err, sizeof(err)), 0);
	CHECK_EQ(c.model, NET_MODEL_VIRTIO);
	j = net_config_to_json(&c);
	CHECK(json_object_get(j, "model") == NULL);     /* Firecracker's shape for virtio */
	json_decref(j);
	net_config_free(&c);
	CHECK_EQ(net_config_parse("{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"model\":\"rtl8139\"}",
				  NULL, &c, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "model") != NULL);
	CHECK_EQ(net_config_parse("{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"model\":\"e1000\",\"mtu\":9000}",
				  NULL, &c, err, sizeof(err)), -EINVAL);
	CHECK_EQ(net_config_from_cli("tap=tap0,model=e1000", 0, &c, err, sizeof(err)), 0);
	CHECK_EQ(c.model, NET_MODEL_E1000);
	net_config_free(&c);
	CHECK_EQ(net_config_from_cli("tap=tap0,model=ne2000", 0, &c, err, sizeof(err)), -EINVAL);
}

TEST(e1000_io_bar_on_the_pci_bus)
{
	static struct bus pio, mmio;
	static struct pci_bus pci;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	REQUIRE_EQ(pci_bus_init(&pci, NULL, &pio, &mmio, 0xc0000000, 0x10000000), 0);
	REQUIRE_EQ(fe_setup_on(true, &pci), 0);
	uint32_t bar1 = (uint32_t)le_load(fe.pci.st.cfg + 0x14, 4);
	CHECK_EQ(bar1 & 1, 1u);
	CHECK((bar1 & ~3u) >= PCI_IO_BASE && (bar1 & ~3u) < PCI_IO_BASE + PCI_IO_SIZE);
	CHECK(le_load(fe.pci.st.cfg + 4, 2) & PCI_COMMAND_IO);
	uint16_t port = (uint16_t)(bar1 & ~3u);
	uint8_t b[4];
	le_store(b, E1000_STATUS, 4);
	CHECK(bus_access(&pio, port, b, 4, true));
	CHECK(bus_access(&pio, port + 4, b, 4, false));
	CHECK(le_load(b, 4) & E1000_STATUS_LU);
	/* sizing the I/O BAR: 64 ports, bit 0 stays */
	pci_put(b, 0, 0xffffffffu, 4);
	pci_config_write(&pci, fe.pci.slot, 0, 0x14, b, 4);
	pci_config_read(&pci, fe.pci.slot, 0, 0x14, b, 4);
	CHECK_EQ_HEX(le_load(b, 4), 0x0000ffc1u);
	/* I/O decoding off: the ports answer all ones */
	pci_put(b, 0, bar1, 4);
	pci_config_write(&pci, fe.pci.slot, 0, 0x14, b, 4);
	pci_put(b, 0, PCI_COMMAND_MEMORY, 2);
	pci_config_write(&pci, fe.pci.slot, 0, 4, b, 2);
	CHECK(bus_access(&pio, port + 4, b, 4, false));
	CHECK_EQ_HEX(le_load(b, 4), 0xffffffffu);
	fe_teardown();
	pci_bus_destroy(&pci);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
