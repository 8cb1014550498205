/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_evil: a QEMU guest agent played by a freestanding guest (virtio_console_lib.h), honest
 * or hostile, for tests/virtio/test_guest_agent.py. It opens the port org.qemu.guest_agent.0
 * and reads the worker's requests as qemu-guest-agent does (one JSON object per line; a 0xFF
 * byte resets the line). Runs in ring 3. Command line: transport=pci|mmio, mode=MODE:
 *   honest   answers guest-sync-delimited (0xFF, then the id), guest-ping, guest-info,
 *            guest-network-get-interfaces, guest-fsfreeze-freeze/-thaw/-status,
 *            guest-set-time, guest-fstrim (an error: CommandNotFound, as an agent without it
 *            says), and guest-shutdown (any mode) by powering off through ACPI (S5). Each command it takes is printed
 *            "agent: NAME" in the order it came, so the test sees freeze before thaw.
 *   garbage  answers the sync properly, then every command with bytes that are no answer
 *            (not JSON, stray 0xFF, a line without its end and then one of 2 MiB).
 *   flood    writes answers-that-are-not without end, never reads.
 *   silent   opens the port, reads and drops everything.
 *   nothaw   honest, but never answers guest-fsfreeze-thaw.
 *   flap     closes and opens the port FLAPS times in a row (what reaches it meanwhile is
 *            dropped), prints "agent: flapped", then stays open and honest.
 */
#include "virtio_console_lib.h"

DEFINE_GUEST("agent_evil");

#define AGENT_PORT "org.qemu.guest_agent.0"
#define FLAPS 30000

static struct vcg g;
static int port = -1;
static char line[8192];
static uint32_t line_len;
static bool frozen;
static char out[4096];
static unsigned requests;

static void say(const char *s, uint32_t n)
{
	while (n) {
		uint32_t k = n > 4096 ? 4096 : n;
		if (!vcg_write(&g, (unsigned)port, s, k, 60))
			return;
		s += k;
		n -= k;
	}
}

static void says(const char *s)
{
	say(s, (uint32_t)strlen(s));
}

/* The string value after "key": in the line, into v (at most cap - 1 bytes): its length or -1. */
static int str_field(const char *key, char *v, unsigned cap)
{
	size_t kl = strlen(key);
	for (uint32_t i = 0; i + kl + 3 < line_len; i++) {
		if (line[i] != '"' || memcmp(line + i + 1, key, kl) || line[i + 1 + kl] != '"')
			continue;
		uint32_t p = i + 2 + (uint32_t)kl;
		while (p < line_len && (line[p] == ' ' || line[p] == ':'))
			p++;
		if (p >= line_len || line[p] != '"')
			return -1;
		unsigned n = 0;
		for (p++; p < line_len && line[p] != '"' && n + 1 < cap; p++)
			v[n++] = line[p];
		v[n] = 0;
		return (int)n;
	}
	return -1;
}

/* The digits after "id": (guest-sync-delimited's), as text. */
static bool id_field(char *v, unsigned cap)
{
	for (uint32_t i = 0; i + 5 < line_len; i++) {
		if (memcmp(line + i, "\"id\"", 4))
			continue;
		uint32_t p = i + 4;
		while (p < line_len && (line[p] == ' ' || line[p] == ':'))
			p++;
		unsigned n = 0;
		while (p < line_len && ((line[p] >= '0' && line[p] <= '9') || line[p] == '-') && n + 1 < cap)
			v[n++] = line[p++];
		v[n] = 0;
		return n > 0;
	}
	return false;
}

static void garbage_answer(void)
{
	static char big[65536];
	says("this is not JSON\n");
	says("\xff\xff{\"return\": \xff}\n");
	says("{\"return\": {\"version\": 5, ");   /* no end: the next bytes continue it */
	memset(big, 'A', sizeof(big));
	for (unsigned i = 0; i < 32; i++)          /* 2 MiB without a newline: over the line limit */
		say(big, sizeof(big));
	says("\n");
}

static void handle(bool honest, bool answer_thaw)
{
	char cmd[64];
	if (str_field("execute", cmd, sizeof(cmd)) < 0)
		return;
	requests++;
	if (!strcmp(cmd, "guest-sync-delimited")) {
		char id[32];
		if (!id_field(id, sizeof(id)))
			return;
		snprintf(out, sizeof(out), "\xff{\"return\": %s}\n", id);
		says(out);
		return;
	}
	printf("agent: %s\n", cmd);
	if (!honest) {
		garbage_answer();
		return;
	}
	if (!strcmp(cmd, "guest-ping") || !strcmp(cmd, "guest-set-time")) {
		says("{\"return\": {}}\n");
	} else if (!strcmp(cmd, "guest-info")) {
		says("{\"return\": {\"version\": \"petrel-agent-evil 1\", \"supported_commands\": ["
		     "{\"enabled\": true, \"name\": \"guest-ping\", \"success-response\": true}, "
		     "{\"enabled\": true, \"name\": \"guest-fsfreeze-freeze\", \"success-response\": true}, "
		     "{\"enabled\": false, \"name\": \"guest-exec\", \"success-response\": true}, "
		     "{\"enabled\": true, \"name\": \"guest-shutdown\", \"success-response\": false}]}}\n");
	} else if (!strcmp(cmd, "guest-network-get-interfaces")) {
		says("{\"return\": [{\"name\": \"lo\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", "
		     "\"ip-address\": \"127.0.0.1\", \"prefix\": 8}, {\"ip-address-type\": \"ipv6\", \"ip-address\": "
		     "\"::1\", \"prefix\": 128}], \"hardware-address\": \"00:00:00:00:00:00\"}, {\"name\": \"eth0\", "
		     "\"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": \"172.16.0.2\", \"prefix\": 30}, "
		     "{\"ip-address-type\": \"ipv6\", \"ip-address\": \"fe80::ff:fe00:2\", \"prefix\": 64}], "
		     "\"statistics\": {\"rx-bytes\": 0}, \"hardware-address\": \"06:00:AC:10:00:02\"}]}\n");
	} else if (!strcmp(cmd, "guest-fsfreeze-freeze")) {
		snprintf(out, sizeof(out), "{\"return\": %d}\n", frozen ? 0 : 2);
		frozen = true;
		says(out);
	} else if (!strcmp(cmd, "guest-fsfreeze-thaw")) {
		if (!answer_thaw)
			return;
		snprintf(out, sizeof(out), "{\"return\": %d}\n", frozen ? 2 : 0);
		frozen = false;
		says(out);
	} else if (!strcmp(cmd, "guest-fsfreeze-status")) {
		says(frozen ? "{\"return\": \"frozen\"}\n" : "{\"return\": \"thawed\"}\n");
	} else if (!strcmp(cmd, "guest-shutdown")) {
		char mode[16] = "powerdown";
		str_field("mode", mode, sizeof(mode));
		printf("agent: shutdown %s%s\n", mode, frozen ? " (still frozen)" : "");
		vcg_open(&g, (unsigned)port, false);
		printf("ok agent_evil\n");
		/* ACPI S5 as Linux powers off (PM1_CNT: SLP_TYP 5, SLP_EN): the VM ends also in a
		 * worker without --debug-exit (petreld's); the debug-exit port after it */
		outw(0x600 + 4, (uint16_t)(5u << 10 | 1u << 13));
		pass();
	} else {
		snprintf(out, sizeof(out), "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command %s "
			 "has not been found\"}}\n", cmd);
		says(out);
	}
}

static void flood(void)
{
	static char chunk[16384];
	for (uint32_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)(i % 97 == 96 ? '\n' : '{');
	for (unsigned long n = 0;; n++) {
		vcg_poll(&g);
		vcg_write(&g, (unsigned)port, chunk, sizeof(chunk), 5);
		if (n % 4096 == 0)
			printf("agent: flooding\n");
	}
}

static long body(long arg)
{
	(void)arg;
	vcg_init(&g);
	port = vcg_wait_name(&g, AGENT_PORT, 30);
	check(port > 0, "no port %s (max_nr_ports %u)", AGENT_PORT, g.max_nr_ports);
	vcg_open(&g, (unsigned)port, true);
	printf("agent: port %d open\n", port);
	bool honest = !cmdline_is("mode", "garbage");
	bool answer_thaw = !cmdline_is("mode", "nothaw");
	bool silent = cmdline_is("mode", "silent");
	if (cmdline_is("mode", "flood"))
		flood();
	if (cmdline_is("mode", "flap")) {
		uint8_t drop[512];
		for (unsigned i = 0; i < FLAPS; i++) {
			vcg_open(&g, (unsigned)port, false);
			vcg_poll(&g);
			vcg_open(&g, (unsigned)port, true);
			vcg_poll(&g);
			while (vcg_read(&g, (unsigned)port, drop, sizeof(drop)))
				;
		}
		printf("agent: flapped %u times\n", FLAPS);
	}
	uint8_t buf[512];
	for (;;) {
		vcg_poll(&g);
		uint32_t n = vcg_read(&g, (unsigned)port, buf, sizeof(buf));
		for (uint32_t i = 0; i < n && !silent; i++) {
			if (buf[i] == 0xff) {
				line_len = 0;   /* qemu-ga's parser resets on it */
				continue;
			}
			if (buf[i] != '\n') {
				if (line_len < sizeof(line))
					line[line_len++] = (char)buf[i];
				continue;
			}
			handle(honest, answer_thaw);
			line_len = 0;
		}
		if (!n)
			pause();
	}
}

void test_main(void)
{
	user_call(body, 0, USER_IF);
	printf("agent: done after %u requests\n", requests);
	pass();
}
