/* virtio-console without KVM: guest memory an anonymous mapping, rings written by the test as
 * a driver would, a real I/O thread serving the ports' fds (one end of a socketpair each).
 * The definition's console-ports and guest-agent; the handshake in Linux's order; bytes both
 * ways only while the guest has its port open; hostile control messages refused and counted;
 * the VCON state saved, loaded, and refused when forged. */
#include "unit.h"

#define MEM_SIZE (1u << 20)
#include "fake_ring.h"

#include "config/console_ports_config.h"
#include "config/vm_config.h"
#include "devices/virtio/console.h"
#include "util/codec.h"
#include "util/io_thread.h"
#include "devices/dev_state.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 0x80000          /* the driver's buffers: 1 KiB each */
#define NQ 8                 /* port 0, control, ports 1 and 2 */

/* ---- the definition ---- */

static int parse_port(const char *text, struct console_port_config *c, char *err)
{
	json_t *o = json_loads(text, 0, NULL);
	int r = console_port_config_from_json(o, "console-ports[0]", c, err, 256);
	json_decref(o);
	return r;
}

TEST(port_definitions_checked)
{
	char err[256];
	struct console_port_config c;
	CHECK_EQ(parse_port("{\"port_id\": \"agent\", \"name\": \"org.qemu.guest_agent.0\"}", &c, err), 0);
	CHECK(!c.socket_path);
	console_port_config_free(&c);
	CHECK_EQ(parse_port("{\"port_id\": \"a\", \"name\": \"x\", \"socket_path\": \"/tmp/s\"}", &c, err), 0);
	CHECK_STR_EQ(c.socket_path, "/tmp/s");
	console_port_config_free(&c);
	CHECK_EQ(parse_port("{\"port_id\": \"a\", \"name\": \"a/b\"}", &c, err), -EINVAL);
	CHECK_CONTAINS(err, "console-ports[0].name");
	CHECK_EQ(parse_port("{\"port_id\": \"a\", \"name\": \"tab\\there\"}", &c, err), -EINVAL);
	CHECK_EQ(parse_port("{\"port_id\": \"a-b\", \"name\": \"x\"}", &c, err), -EINVAL);
	CHECK_EQ(parse_port("{\"port_id\": \"a\"}", &c, err), -EINVAL);
	CHECK_EQ(parse_port("{\"port_id\": \"a\", \"name\": \"x\", \"speed\": 9600}", &c, err), -EINVAL);
	char big[300];
	snprintf(big, sizeof(big), "{\"port_id\": \"a\", \"name\": \"%0128d\"}", 0);
	CHECK_EQ(parse_port(big, &c, err), -EINVAL);
	snprintf(big, sizeof(big), "{\"port_id\": \"a\", \"name\": \"%0127d\"}", 0);
	CHECK_EQ(parse_port(big, &c, err), 0);
	console_port_config_free(&c);
}

TEST(config_file_sections_and_the_agent_port)
{
	char err[256];
	struct vm_config cfg;
	vm_config_init(&cfg);
	int agent;
	CHECK_EQ(vm_config_parse_json("{\"console-ports\": [{\"port_id\": \"a\", \"name\": \"one\"}, "
				      "{\"port_id\": \"b\", \"name\": \"one\"}]}", &cfg, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "already");
	CHECK_EQ(vm_config_parse_json("{\"guest-agent\": {\"enabled\": true, \"timeout_ms\": 0}}", &cfg, err,
				      sizeof(err)), -EINVAL);
	CHECK_EQ(vm_config_parse_json("{\"console-ports\": [{\"port_id\": \"a\", \"name\": \"one\"}], "
				      "\"guest-agent\": {\"enabled\": true}}", &cfg, err, sizeof(err)), 0);
	CHECK_EQ(cfg.nconsole_ports, 1u);
	CHECK_EQ(cfg.guest_agent.timeout_ms, 5000u);
	CHECK_EQ(vm_config_console_port_count(&cfg, &agent), 2u);   /* the agent's added */
	CHECK_EQ(agent, 1);
	json_t *j = vm_config_to_json(&cfg);
	CHECK(json_array_size(json_object_get(j, "console-ports")) == 1);
	CHECK(json_is_true(json_object_get(json_object_get(j, "guest-agent"), "enabled")));
	json_decref(j);
	vm_config_free(&cfg);
	/* named by the definition: not added twice, and it is the agent's without a socket */
	vm_config_init(&cfg);
	CHECK_EQ(vm_config_parse_json("{\"console-ports\": [{\"port_id\": \"ga\", \"name\": \"org.qemu.guest_agent.0\"}],"
				      " \"guest-agent\": {\"enabled\": true}}", &cfg, err, sizeof(err)), 0);
	CHECK_EQ(vm_config_console_port_count(&cfg, &agent), 1u);
	CHECK_EQ(agent, 0);
	vm_config_free(&cfg);
}

/* ---- the device ---- */

static struct virtio_console con;
static struct io_thread io;
static int peer[2] = { -1, -1 };   /* the test's ends of ports 1 and 2 */
static uint16_t next_desc[NQ], last_used[NQ];

static void add_buf(unsigned q, uint64_t addr, uint32_t len, bool write)
{
	unsigned i = next_desc[q]++ % QS;
	set_desc(q, i, addr, len, write ? VIRTQ_DESC_F_WRITE : 0, 0);
	publish(q, (uint16_t)i);
}

static uint64_t buf_addr(unsigned q, unsigned i)
{
	return BUF + 0x4000ull * q + 1024ull * (i % QS);
}

/* Wait (the I/O thread works) until queue q has a used element; its bytes, or -1. */
static int take(unsigned q, uint8_t *out, uint32_t cap)
{
	for (int i = 0; i < 2000 && used_idx(q) == last_used[q]; i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	if (used_idx(q) == last_used[q])
		return -1;
	struct virtq_used_elem e = used_elem(q, last_used[q]++);
	uint32_t n = e.len < cap ? e.len : cap;
	if (out) {
		struct virtq_desc d;
		memcpy(&d, ram + qdesc(q) + 16 * e.id, 16);
		memcpy(out, ram + d.addr, n);
	}
	return (int)e.len;
}

static void ctrl_send(uint32_t id, uint16_t ev, uint16_t val)
{
	uint8_t m[8];
	le_store(m, id, 4);
	le_store(m + 4, ev, 2);
	le_store(m + 6, val, 2);
	uint64_t a = buf_addr(3, next_desc[3]);
	memcpy(ram + a, m, 8);
	add_buf(3, a, 8, false);
	notify(&con.vdev, 3);
}

static void ctrl_post(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		add_buf(2, buf_addr(2, next_desc[2]), 1024, true);
	notify(&con.vdev, 2);
}

/* The next control message from the device: its event (and id, value, name). */
static int ctrl_next(uint32_t *id, uint16_t *val, char *name)
{
	uint8_t m[1024];
	int n = take(2, m, sizeof(m));
	if (n < 8)
		return -1;
	*id = (uint32_t)le_load(m, 4);
	*val = (uint16_t)le_load(m + 6, 2);
	if (name) {
		memcpy(name, m + 8, (size_t)n - 8);
		name[n - 8] = 0;
	}
	return (int)le_load(m + 4, 2);
}

static void device_up(const char *name2_socket)
{
	mem_setup();
	memset(next_desc, 0, sizeof(next_desc));
	memset(last_used, 0, sizeof(last_used));
	CHECK_EQ(io_thread_init(&io), 0);
	CHECK_EQ(io_thread_start(&io, "test-io"), 0);
	int sp[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	peer[0] = sp[0];
	struct vcon_port_params p[2] = { { "org.qemu.guest_agent.0", sp[1], NULL }, { "second", -1, name2_socket } };
	char err[256];
	CHECK_EQ(virtio_console_create(&con, p, 2, &mem, &io, err, sizeof(err)), 0);
	CHECK_EQ(con.vdev.nqueues, 8u);
	uint8_t cfg[12];
	con.vdev.ops->config_read(&con.vdev, 0, cfg, 12);
	CHECK_EQ(le_load(cfg + 4, 4), 3u);                      /* max_nr_ports */
	CHECK(con.vdev.host_features & VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT));
	start(&con.vdev, con.vdev.host_features, NQ);
}

static void device_down(void)
{
	io_thread_stop(&io);
	virtio_dev_destroy(&con.vdev);
	io_thread_destroy(&io);
	close(peer[0]);
}

/* Linux's order: DEVICE_READY; DEVICE_ADD for each port answered by PORT_READY; then the
 * device's PORT_NAME and (host connected) PORT_OPEN. */
static void handshake(void)
{
	uint32_t id;
	uint16_t val;
	char name[200];
	ctrl_post(8);
	ctrl_send(0xffffffff, VIRTIO_CONSOLE_DEVICE_READY, 1);
	for (unsigned n = 1; n <= 2; n++) {
		CHECK_EQ(ctrl_next(&id, &val, NULL), VIRTIO_CONSOLE_DEVICE_ADD);
		CHECK_EQ(id, n);
	}
	ctrl_send(1, VIRTIO_CONSOLE_PORT_READY, 1);
	CHECK_EQ(ctrl_next(&id, &val, name), VIRTIO_CONSOLE_PORT_NAME);
	CHECK_STR_EQ(name, "org.qemu.guest_agent.0");
	CHECK_EQ(ctrl_next(&id, &val, NULL), VIRTIO_CONSOLE_PORT_OPEN);   /* the socketpair is connected */
	CHECK_EQ(id, 1u);
	CHECK_EQ(val, 1);
	ctrl_send(2, VIRTIO_CONSOLE_PORT_READY, 1);
	CHECK_EQ(ctrl_next(&id, &val, name), VIRTIO_CONSOLE_PORT_NAME);
	CHECK_STR_EQ(name, "second");
	CHECK_EQ(take(2, NULL, 0), -1);                                    /* no back end: no PORT_OPEN */
}

TEST(handshake_and_bytes_both_ways_only_while_open)
{
	device_up(NULL);
	handshake();
	/* the host writes before the guest opened: nothing reaches the guest */
	CHECK_EQ(write(peer[0], "abc", 3), 3);
	add_buf(4, buf_addr(4, 0), 1024, true);
	notify(&con.vdev, 4);
	CHECK_EQ(take(4, NULL, 0), -1);
	CHECK(!virtio_console_port_guest_open(&con, "org.qemu.guest_agent.0"));
	ctrl_send(1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	CHECK(virtio_console_port_guest_open(&con, "org.qemu.guest_agent.0"));
	CHECK(!virtio_console_port_guest_open(&con, "second"));
	CHECK(!virtio_console_port_guest_open(&con, "nobody"));
	uint8_t got[64];
	CHECK_EQ(take(4, got, sizeof(got)), 3);
	CHECK(!memcmp(got, "abc", 3));
	/* the guest writes: the peer reads it */
	memcpy(ram + buf_addr(5, 0), "hello", 5);
	add_buf(5, buf_addr(5, 0), 5, false);
	notify(&con.vdev, 5);
	CHECK_EQ(take(5, NULL, 0), 0);
	char rd[16] = "";
	CHECK_EQ(read(peer[0], rd, sizeof(rd)), 5);
	CHECK(!memcmp(rd, "hello", 5));
	/* the host side goes: PORT_OPEN 0 */
	close(peer[0]);
	peer[0] = -1;
	uint32_t id;
	uint16_t val;
	CHECK_EQ(ctrl_next(&id, &val, NULL), VIRTIO_CONSOLE_PORT_OPEN);
	CHECK_EQ(val, 0);
	CHECK(!virtio_is_running(&con.vdev) == false);
	device_down();
}

TEST(back_pressure_a_full_peer_stops_the_queue_and_resumes)
{
	device_up(NULL);
	handshake();
	ctrl_send(1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	int sz = 4096;
	setsockopt(peer[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	/* 15 chains of 1 KiB x ... : more than the socket holds */
	static uint8_t pattern[QS * 1024];
	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7);
	for (unsigned i = 0; i < QS - 1; i++) {
		memcpy(ram + buf_addr(5, i), pattern + 1024 * i, 1024);
		add_buf(5, buf_addr(5, i), 1024, false);
	}
	notify(&con.vdev, 5);
	uint8_t rd[QS * 1024];
	size_t got = 0;
	for (int spins = 0; got < (QS - 1) * 1024u && spins < 4000; spins++) {
		struct pollfd pf = { peer[0], POLLIN, 0 };
		if (poll(&pf, 1, 1) == 1) {
			ssize_t n = read(peer[0], rd + got, sizeof(rd) - got);
			if (n > 0)
				got += (size_t)n;
		}
	}
	CHECK_EQ(got, (QS - 1) * 1024u);
	CHECK(!memcmp(rd, pattern, got));
	for (unsigned i = 0; i < QS - 1; i++)
		CHECK_EQ(take(5, NULL, 0), 0);
	device_down();
}

TEST(hostile_control_messages_refused_and_counted)
{
	device_up(NULL);
	handshake();
	uint64_t bad = con.stats.ctrl_bad;
	ctrl_send(1, VIRTIO_CONSOLE_DEVICE_ADD, 1);      /* a device's event */
	ctrl_send(77, VIRTIO_CONSOLE_PORT_OPEN, 1);      /* no such port */
	ctrl_send(0, VIRTIO_CONSOLE_PORT_OPEN, 1);       /* port 0 is never announced */
	ctrl_send(1, 999, 1);                            /* no such event */
	ctrl_send(0, VIRTIO_CONSOLE_DEVICE_READY, 1);    /* again */
	uint64_t a = buf_addr(3, next_desc[3]);
	add_buf(3, a, 3, false);                         /* short */
	add_buf(3, a, 0, true);                          /* nothing readable */
	notify(&con.vdev, 3);
	for (int i = 0; i < 2000 && con.stats.ctrl_bad < bad + 7; i++)
		usleep(1000);
	CHECK_EQ_HEX(con.stats.ctrl_bad, bad + 7);
	CHECK(virtio_is_running(&con.vdev));
	CHECK(!virtio_console_port_guest_open(&con, "org.qemu.guest_agent.0"));
	/* a receive buffer too small for a name: given back empty, the name waits */
	device_down();
}

/* ---- the saved state ---- */

static void save(struct enc *e)
{
	enc_init(e);
	con.vdev.ops->state->save(&con.vdev, e);
}

static int load(const uint8_t *p, size_t n, char *err)
{
	struct dec d;
	dec_init(&d, p, n);
	return con.vdev.ops->state->load(&con.vdev, &d, 1, err, 256);
}

TEST(state_saved_loaded_and_forgeries_refused)
{
	device_up(NULL);
	handshake();
	ctrl_send(1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	CHECK_EQ(write(peer[0], "kept", 4), 4);
	for (int i = 0; i < 2000 && con.ports[1].len < 4; i++)
		usleep(1000);   /* read into the buffer: no receive buffer posted */
	CHECK_EQ(con.ports[1].len, 4u);
	struct enc e;
	io_thread_pause(&io);
	save(&e);
	io_thread_resume(&io);
	CHECK(!e.err);
	char err[256];
	CHECK_EQ(load(e.buf, e.len, err), 0);
	CHECK(virtio_console_port_guest_open(&con, "org.qemu.guest_agent.0"));
	CHECK_EQ(con.ports[1].len, 4u);
	/* cut short anywhere */
	for (size_t n = 0; n < e.len; n++)
		CHECK_EQ(load(e.buf, n, err), -EINVAL);
	/* a byte more */
	uint8_t *x = malloc(e.len + 1);
	memcpy(x, e.buf, e.len);
	x[e.len] = 0;
	CHECK_EQ(load(x, e.len + 1, err), -EINVAL);
	/* another port count */
	memcpy(x, e.buf, e.len);
	x[0] = 2;
	CHECK_EQ(load(x, e.len, err), -EINVAL);
	/* another name */
	memcpy(x, e.buf, e.len);
	x[3] ^= 1;
	CHECK_EQ(load(x, e.len, err), -EINVAL);
	CHECK_CONTAINS(err, "port 1");
	/* guest open on a port never announced: port 1's flags start after its 22-byte name */
	memcpy(x, e.buf, e.len);
	x[3 + 22] = 0;   /* announced */
	CHECK_EQ(load(x, e.len, err), -EINVAL);
	CHECK_CONTAINS(err, "does not hold together");
	/* more bytes buffered than the buffer holds */
	memcpy(x, e.buf, e.len);
	le_store(x + 3 + 22 + 5 + 4, VCON_BUF_SIZE + 1, 4);
	CHECK_EQ(load(x, e.len, err), -EINVAL);
	free(x);
	enc_free(&e);
	device_down();
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
