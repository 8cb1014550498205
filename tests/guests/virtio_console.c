/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_console: a virtio-console MULTIPORT driver (virtio_console_lib.h) that finds the port
 * named on its command line, opens it and echoes each line the host sends with a prefix, and
 * modes for a hostile guest. Runs in ring 3. Command line:
 *   transport=pci|mmio, port=NAME (the port to echo on), mode=MODE:
 *   echo     (default) open the port; each line L the host sends comes back as "echo:L";
 *            "close" closes the port (PORT_OPEN 0), waits ~1 s, opens it again; "quit" ends
 *            the guest (ok). Prints "vcon: port N NAME", "vcon: host open"/"host closed"
 *            (the device's PORT_OPEN), "vcon: echoed N" every line.
 *   garbage  first sends the device control messages it must refuse (unknown events, ports
 *            out of range or never announced, short and long buffers, repeated DEVICE_READY,
 *            random bytes) and chains it cannot use, checks the device still works, then echo.
 *   flood    opens and closes the port 2000 times, then writes 16 MiB as fast as the device
 *            takes it (the host reads slowly or not at all: back-pressure), prints
 *            "vcon: flood done", then echo.
 */
#include "virtio_console_lib.h"

DEFINE_GUEST("virtio_console");

static struct vcg g;
static char port_name[VCG_NAME_MAX];
static int port = -1;
static char line[4096];
static uint32_t line_len;
static uint8_t outbuf[4200];
static unsigned echoed;
static uint32_t rng = 0x12345678;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static void garbage(void)
{
	uint8_t m[300];
	/* unknown events, every port id class, values the device must not trust */
	for (unsigned i = 0; i < 200; i++)
		check(vcg_ctrl_send(&g, rnd() % 40, (uint16_t)(8 + rnd() % 100), (uint16_t)rnd()), "ctrl %u not taken", i);
	check(vcg_ctrl_send(&g, 0xffffffffu, VCON_PORT_READY, 1), "bad id not taken");
	check(vcg_ctrl_send(&g, g.max_nr_ports, VCON_PORT_OPEN, 1), "port out of range not taken");
	check(vcg_ctrl_send(&g, 0, VCON_PORT_OPEN, 1), "port 0 open not taken");
	check(vcg_ctrl_send(&g, 0, VCON_DEVICE_ADD, 1), "DEVICE_ADD from the guest not taken");
	check(vcg_ctrl_send(&g, 0, VCON_PORT_NAME, 1), "PORT_NAME from the guest not taken");
	check(vcg_ctrl_send(&g, 0, VCON_DEVICE_READY, 1), "second DEVICE_READY not taken");
	check(vcg_ctrl_send(&g, 0, VCON_DEVICE_READY, 0), "DEVICE_READY 0 not taken");
	for (unsigned i = 0; i < 64; i++) {
		uint32_t len = rnd() % sizeof(m);
		for (uint32_t k = 0; k < len; k++)
			m[k] = (uint8_t)rnd();
		check(vcg_ctrl_send_raw(&g, m, len), "raw control buffer %u (%u bytes) not taken", i, len);
	}
	check(vcg_ctrl_send_raw(&g, m, 0), "empty control buffer not taken");
	check(vcg_ctrl_send_raw(&g, m, 3), "short control buffer not taken");
	/* a device-writable buffer on a transmit queue: nothing to read; chains of zero length */
	struct vq *tx = vcg_txq(&g, (unsigned)port);
	struct vbuf w = { m, sizeof(m), true };
	vq_add(tx, &w, 1);
	vq_kick(tx);
	check(vq_wait(tx, NULL, NULL, 10), "device-writable transmit chain not returned");
	struct vbuf z = { m, 0, false };
	vq_add(tx, &z, 1);
	vq_kick(tx);
	check(vq_wait(tx, NULL, NULL, 10), "empty transmit chain not returned");
	vcg_poll(&g);
	check(!vdev_broken(&g.dev), "the device broke on refused control messages");
	printf("vcon: garbage done\n");
}

static void flood(void)
{
	for (unsigned i = 0; i < 2000; i++)
		vcg_open(&g, (unsigned)port, i & 1);
	vcg_open(&g, (unsigned)port, true);
	static uint8_t chunk[65536];
	for (uint32_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)('a' + i % 26);
	for (unsigned i = 0; i < 256; i++) {
		vcg_poll(&g);
		check(vcg_write(&g, (unsigned)port, chunk, sizeof(chunk), 120), "flood write %u not taken", i);
	}
	printf("vcon: flood done\n");
}

static void send_line(const char *s, uint32_t n)
{
	memcpy(outbuf, "echo:", 5);
	memcpy(outbuf + 5, s, n);
	outbuf[5 + n] = '\n';
	check(vcg_write(&g, (unsigned)port, outbuf, n + 6, 30), "echo not taken");
	echoed++;
	printf("vcon: echoed %u\n", echoed);
}

static void wait_ms(unsigned ms)
{
	/* about a millisecond per round on the hosts the tests run on; a bound, not a clock */
	for (unsigned i = 0; i < ms * 200; i++)
		pause();
}

static long body(long arg)
{
	(void)arg;
	vcg_init(&g);
	port = vcg_wait_name(&g, port_name, 30);
	check(port > 0, "no port named '%s' (max_nr_ports %u, %u added)", port_name, g.max_nr_ports, g.adds);
	printf("vcon: port %d %s\n", port, port_name);
	if (cmdline_is("mode", "garbage"))
		garbage();
	vcg_open(&g, (unsigned)port, true);
	if (cmdline_is("mode", "flood"))
		flood();
	printf("vcon: opened\n");
	bool host = false;
	uint8_t buf[512];
	for (;;) {
		vcg_poll(&g);
		if (g.port[port].host_open != host) {
			host = g.port[port].host_open;
			printf("vcon: host %s\n", host ? "open" : "closed");
		}
		uint32_t n = vcg_read(&g, (unsigned)port, buf, sizeof(buf));
		for (uint32_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (line_len < sizeof(line))
					line[line_len++] = (char)buf[i];
				continue;
			}
			if (line_len == 4 && !memcmp(line, "quit", 4)) {
				vcg_open(&g, (unsigned)port, false);
				return 0;
			}
			if (line_len == 5 && !memcmp(line, "close", 5)) {
				vcg_open(&g, (unsigned)port, false);
				printf("vcon: closed\n");
				wait_ms(1000);
				vcg_open(&g, (unsigned)port, true);
				printf("vcon: reopened\n");
			} else {
				send_line(line, line_len);
			}
			line_len = 0;
		}
		if (!n)
			pause();
	}
}

void test_main(void)
{
	size_t n;
	const char *v = cmdline_value("port", &n);
	check(v && n && n < sizeof(port_name), "no port=NAME on the command line");
	memcpy(port_name, v, n);
	port_name[n] = 0;
	user_call(body, 0, USER_IF);
	printf("vcon: done, echoed %u\n", echoed);
	pass();
}
