/* Unit tests for the guest agent's client (src/agent): the answer reader on qemu-guest-agent's
 * own answers (as Debian's qemu-ga 7.2 writes them: one object per line, the sync's answer
 * after a 0xFF) and on hostile ones, and the client over a socketpair against an agent played
 * by a thread: honest, garbage, silent, a flood, a late answer, a thaw that never comes. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"
#include "agent/agent.h"
#include "agent/agent_json.h"
#include "util/error.h"
#include "util/util.h"

/* ---- real answers ---- */

static const char info_answer[] =
	"{\"return\": {\"version\": \"7.2.9\", \"supported_commands\": [{\"enabled\": true, \"name\": "
	"\"guest-get-osinfo\", \"success-response\": true}, {\"enabled\": true, \"name\": \"guest-ping\", "
	"\"success-response\": true}, {\"enabled\": false, \"name\": \"guest-exec\", \"success-response\": true}, "
	"{\"enabled\": true, \"name\": \"guest-shutdown\", \"success-response\": false}]}}";

static const char ifaces_answer[] =
	"{\"return\": [{\"name\": \"lo\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": "
	"\"127.0.0.1\", \"prefix\": 8}, {\"ip-address-type\": \"ipv6\", \"ip-address\": \"::1\", \"prefix\": 128}], "
	"\"statistics\": {\"tx-packets\": 12, \"tx-errs\": 0, \"rx-bytes\": 1032, \"rx-dropped\": 0, \"rx-packets\": 12, "
	"\"rx-errs\": 0, \"tx-bytes\": 1032, \"tx-dropped\": 0}, \"hardware-address\": \"00:00:00:00:00:00\"}, "
	"{\"name\": \"eth0\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": \"10.0.2.15\", "
	"\"prefix\": 24}, {\"ip-address-type\": \"ipv6\", \"ip-address\": \"fe80::5054:ff:fe12:3456\", \"prefix\": 64}], "
	"\"statistics\": {\"tx-packets\": 87, \"tx-errs\": 0, \"rx-bytes\": 29841, \"rx-dropped\": 0, \"rx-packets\": 93, "
	"\"rx-errs\": 0, \"tx-bytes\": 11293, \"tx-dropped\": 0}, \"hardware-address\": \"52:54:00:12:34:56\"}]}";

static const char fstrim_answer[] =
	"{\"return\": {\"paths\": [{\"path\": \"/boot/efi\", \"error\": \"Operation not supported\"}, "
	"{\"path\": \"/\", \"minimum\": 0, \"trimmed\": 1530904576}]}}";

static json_t *ret_of(const char *line)
{
	json_t *r;
	char err[256];
	if (agent_reply_parse(line, strlen(line), &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "parse: %s\n", err);
		return NULL;
	}
	return r;
}

TEST(lines_across_reads_and_the_sentinel)
{
	struct agent_rx rx = { 0 };
	char *line;
	size_t len;
	CHECK_EQ(agent_rx_push(&rx, "stale gar", 9), 0);
	CHECK_EQ(agent_rx_push(&rx, "bage\n\xff{\"return\": 4", 18), 0);
	CHECK(agent_rx_sentinel(&rx));
	CHECK_EQ(agent_rx_line(&rx, &line, &len), 0);
	CHECK_EQ(agent_rx_push(&rx, "2}\r\n{\"ret", 9), 0);
	REQUIRE(agent_rx_line(&rx, &line, &len) == 1);
	CHECK_STR_EQ(line, "{\"return\": 42}");
	CHECK_EQ(len, 14);
	free(line);
	CHECK_EQ(agent_rx_line(&rx, &line, &len), 0);
	CHECK(!agent_rx_sentinel(&rx));
	CHECK_EQ(rx.len, 0);
	agent_rx_free(&rx);
}

TEST(a_line_over_the_limit_is_refused)
{
	struct agent_rx rx = { 0 };
	char *big = malloc(AGENT_LINE_MAX / 2);
	REQUIRE(big);
	memset(big, 'x', AGENT_LINE_MAX / 2);
	CHECK_EQ(agent_rx_push(&rx, big, AGENT_LINE_MAX / 2), 0);
	CHECK_EQ(agent_rx_push(&rx, big, AGENT_LINE_MAX / 2), 0);
	CHECK_EQ(agent_rx_push(&rx, "xx", 2), -EMSGSIZE);
	CHECK_EQ(rx.len, 0);
	/* lines that end are fine however many come */
	for (int i = 0; i < 8; i++) {
		big[AGENT_LINE_MAX / 2 - 1] = '\n';
		CHECK_EQ(agent_rx_push(&rx, big, AGENT_LINE_MAX / 2), 0);
		char *line;
		size_t len;
		CHECK_EQ(agent_rx_line(&rx, &line, &len), 1);
		free(line);
	}
	free(big);
	agent_rx_free(&rx);
}

TEST(answers_and_errors)
{
	json_t *r;
	char err[256];
	const char *e1 = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"failed to freeze /: Device or resource busy\"}}";
	CHECK_EQ(agent_reply_parse(e1, strlen(e1), &r, err, sizeof(err)), -EREMOTEIO);
	CHECK_CONTAINS(err, "GenericError: failed to freeze /");
	CHECK_NULL(r);
	static const char *const bad[] = {
		"", "not json", "[1]", "{}", "{\"return\": 1, \"error\": {}}", "{\"error\": \"x\"}",
		"{\"error\": {\"class\": \"A\"}}", "{\"error\": {\"class\": 5, \"desc\": \"d\"}}",
		"{\"return\": 1, \"return\": 2}", "{\"return\": 1} trailing", "\xff{\"return\": 1}",
		"{\"return\": 1e999999}", "{\"error\": {\"class\": \"a\\u0000b\", \"desc\": \"d\"}}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ(agent_reply_parse(bad[i], strlen(bad[i]), &r, err, sizeof(err)), -EPROTO);
		CHECK_NULL(r);
	}
	const char *ctl = "{\"error\": {\"class\": \"X\", \"desc\": \"a\\u001b[2Jb\\nc\"}}";
	CHECK_EQ(agent_reply_parse(ctl, strlen(ctl), &r, err, sizeof(err)), -EREMOTEIO);
	CHECK(!strchr(err, 0x1b) && !strchr(err, '\n'));
}

TEST(info)
{
	json_t *r = ret_of(info_answer), *out;
	char err[256];
	REQUIRE(r);
	CHECK_EQ(agent_read_info(r, &out, err, sizeof(err)), 0);
	CHECK_STR_EQ(json_string_value(json_object_get(out, "version")), "7.2.9");
	json_t *cmds = json_object_get(out, "commands");
	CHECK_EQ(json_array_size(cmds), 4);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(cmds, 2), "name")), "guest-exec");
	CHECK(json_is_false(json_object_get(json_array_get(cmds, 2), "enabled")));
	json_decref(out);
	json_decref(r);
	static const char *const bad[] = {
		"{\"return\": {\"version\": 7, \"supported_commands\": []}}",
		"{\"return\": {\"version\": \"a\\nb\", \"supported_commands\": []}}",
		"{\"return\": {\"version\": \"1\", \"supported_commands\": {}}}",
		"{\"return\": {\"version\": \"1\", \"supported_commands\": [{\"name\": \"x\"}]}}",
		"{\"return\": [1]}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		r = ret_of(bad[i]);
		REQUIRE(r);
		CHECK_EQ(agent_read_info(r, &out, err, sizeof(err)), -EPROTO);
		CHECK_CONTAINS(err, "guest-info");
		json_decref(r);
	}
}

TEST(interfaces)
{
	json_t *r = ret_of(ifaces_answer), *out;
	char err[256];
	REQUIRE(r);
	CHECK_EQ(agent_read_interfaces(r, &out, err, sizeof(err)), 0);
	CHECK_EQ(json_array_size(out), 2);
	json_t *eth0 = json_array_get(out, 1);
	CHECK_STR_EQ(json_string_value(json_object_get(eth0, "mac")), "52:54:00:12:34:56");
	json_t *a = json_array_get(json_object_get(eth0, "addresses"), 1);
	CHECK_STR_EQ(json_string_value(json_object_get(a, "type")), "ipv6");
	CHECK_STR_EQ(json_string_value(json_object_get(a, "address")), "fe80::5054:ff:fe12:3456");
	CHECK_EQ(json_integer_value(json_object_get(a, "prefix")), 64);
	CHECK_NULL(json_object_get(eth0, "statistics"));
	json_decref(out);
	json_decref(r);
	/* canonical forms, an interface without a MAC or addresses */
	r = ret_of("{\"return\": [{\"name\": \"wg0\", \"ip-addresses\": [{\"ip-address-type\": \"ipv6\", "
		   "\"ip-address\": \"2001:DB8:0:0::1\", \"prefix\": 48}]}, {\"name\": \"dummy0\", "
		   "\"hardware-address\": \"AA:BB:CC:DD:EE:FF\"}]}");
	REQUIRE(r);
	CHECK_EQ(agent_read_interfaces(r, &out, err, sizeof(err)), 0);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(json_object_get(json_array_get(out, 0), "addresses"),
										 0), "address")), "2001:db8::1");
	CHECK_NULL(json_object_get(json_array_get(out, 0), "mac"));
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(out, 1), "mac")), "aa:bb:cc:dd:ee:ff");
	json_decref(out);
	json_decref(r);
	static const char *const bad[] = {
		"{\"return\": {}}",
		"{\"return\": [{\"name\": 1}]}",
		"{\"return\": [{\"name\": \"e\", \"hardware-address\": \"52:54:00:12:34\"}]}",
		"{\"return\": [{\"name\": \"e\", \"hardware-address\": \"52:54:00:12:34:5g\"}]}",
		"{\"return\": [{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": "
		"\"10.0.2.256\", \"prefix\": 24}]}]}",
		"{\"return\": [{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": "
		"\"10.0.2.15\", \"prefix\": 33}]}]}",
		"{\"return\": [{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipv6\", \"ip-address\": "
		"\"fe80::1%eth0\", \"prefix\": 64}]}]}",
		"{\"return\": [{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": "
		"\"::1\", \"prefix\": 8}]}]}",
		"{\"return\": [{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipx\", \"ip-address\": "
		"\"1.2.3.4\", \"prefix\": 8}]}]}",
		"{\"return\": [{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": "
		"\"1.2.3.4\", \"prefix\": -1}]}]}",
		"{\"return\": [{\"name\": \"e\", \"ip-addresses\": {}}]}",
		"{\"return\": [{\"name\": \"e\\u0007\"}]}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		r = ret_of(bad[i]);
		REQUIRE(r);
		CHECK_EQ(agent_read_interfaces(r, &out, err, sizeof(err)), -EPROTO);
		CHECK_CONTAINS(err, "guest-network-get-interfaces");
		CHECK_NULL(out);
		json_decref(r);
	}
}

TEST(counts_status_fstrim_empty)
{
	char err[256];
	unsigned n;
	bool frozen;
	json_t *r = ret_of("{\"return\": 3}"), *out;
	CHECK_EQ(agent_read_count(r, "guest-fsfreeze-freeze", &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 3);
	json_decref(r);
	r = ret_of("{\"return\": -1}");
	CHECK_EQ(agent_read_count(r, "guest-fsfreeze-thaw", &n, err, sizeof(err)), -EPROTO);
	json_decref(r);
	r = ret_of("{\"return\": \"frozen\"}");
	CHECK_EQ(agent_read_freeze_status(r, &frozen, err, sizeof(err)), 0);
	CHECK(frozen);
	json_decref(r);
	r = ret_of("{\"return\": \"thawing\"}");
	CHECK_EQ(agent_read_freeze_status(r, &frozen, err, sizeof(err)), -EPROTO);
	json_decref(r);
	r = ret_of(fstrim_answer);
	CHECK_EQ(agent_read_fstrim(r, &out, err, sizeof(err)), 0);
	json_t *p = json_array_get(json_object_get(out, "paths"), 1);
	CHECK_EQ(json_integer_value(json_object_get(p, "trimmed")), 1530904576);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(json_object_get(out, "paths"), 0), "error")),
		     "Operation not supported");
	json_decref(out);
	json_decref(r);
	r = ret_of("{\"return\": {\"paths\": [{\"path\": \"/\", \"trimmed\": -5}]}}");
	CHECK_EQ(agent_read_fstrim(r, &out, err, sizeof(err)), -EPROTO);
	json_decref(r);
	r = ret_of("{\"return\": {}}");
	CHECK_EQ(agent_read_empty(r, "guest-ping", err, sizeof(err)), 0);
	json_decref(r);
	r = ret_of("{\"return\": {\"x\": 1}}");
	CHECK_EQ(agent_read_empty(r, "guest-ping", err, sizeof(err)), -EPROTO);
	json_decref(r);
}

/* ---- the client against an agent played by a thread ---- */

enum mode { HONEST, GARBAGE_FIRST, SILENT, FLOOD, LATE, NO_THAW, BAD_ANSWERS };

struct fake {
	int fd;
	enum mode mode;
	pthread_t t;
	char order[256];       /* the commands it saw, in order, comma-separated */
	bool frozen;           /* what guest-fsfreeze-status answers */
	volatile bool stop;
};

static void say(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EAGAIN) {
				struct pollfd p = { .fd = fd, .events = POLLOUT };
				poll(&p, 1, 100);
				continue;
			}
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

static void answer(struct fake *f, json_t *req)
{
	const char *cmd = json_string_value(json_object_get(req, "execute"));
	json_t *args = json_object_get(req, "arguments");
	char out[2048];
	if (!cmd)
		return;
	if (strcmp(cmd, "guest-sync-delimited")) {
		snprintf(f->order + strlen(f->order), sizeof(f->order) - strlen(f->order), "%s%s",
			 f->order[0] ? "," : "", cmd + 6);
	}
	if (f->mode == SILENT || (f->mode == NO_THAW && !strcmp(cmd, "guest-fsfreeze-thaw")))
		return;
	if (!strcmp(cmd, "guest-sync-delimited")) {
		if (f->mode == GARBAGE_FIRST)
			say(f->fd, "{\"return\": 1}\n\xff\xff garbage {{{\n");
		snprintf(out, sizeof(out), "\xff{\"return\": %lld}\n",
			 (long long)json_integer_value(json_object_get(args, "id")));
	} else if (f->mode == LATE && !strcmp(cmd, "guest-info")) {
		usleep(400 * 1000);   /* after the client gave up */
		snprintf(out, sizeof(out), "%s\n", info_answer);
	} else if (f->mode == BAD_ANSWERS && !strcmp(cmd, "guest-network-get-interfaces")) {
		snprintf(out, sizeof(out), "{\"return\": [{\"name\": \"eth0\", \"hardware-address\": \"zz\"}]}\n");
	} else if (f->mode == BAD_ANSWERS && !strcmp(cmd, "guest-info")) {
		snprintf(out, sizeof(out), "{\"retur\n");
	} else if (!strcmp(cmd, "guest-ping") || !strcmp(cmd, "guest-set-time")) {
		snprintf(out, sizeof(out), "{\"return\": {}}\n");
	} else if (!strcmp(cmd, "guest-info")) {
		snprintf(out, sizeof(out), "%s\n", info_answer);
	} else if (!strcmp(cmd, "guest-network-get-interfaces")) {
		snprintf(out, sizeof(out), "%s\n", ifaces_answer);
	} else if (!strcmp(cmd, "guest-fsfreeze-freeze") || !strcmp(cmd, "guest-fsfreeze-thaw")) {
		f->frozen = !strcmp(cmd, "guest-fsfreeze-freeze");
		snprintf(out, sizeof(out), "{\"return\": 2}\n");
	} else if (!strcmp(cmd, "guest-fsfreeze-status")) {
		snprintf(out, sizeof(out), "{\"return\": \"%s\"}\n", f->frozen ? "frozen" : "thawed");
	} else if (!strcmp(cmd, "guest-shutdown")) {
		return;
	} else {
		snprintf(out, sizeof(out), "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command %s has "
			 "not been found\"}}\n", cmd);
	}
	say(f->fd, out);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	char buf[4096], line[8192];
	size_t ll = 0;
	while (!f->stop) {
		if (f->mode == FLOOD) {
			memset(buf, '{', sizeof(buf));
			buf[100] = '\n';
			ssize_t w = write(f->fd, buf, sizeof(buf));
			if (w < 0 && errno != EAGAIN)
				break;
			continue;
		}
		struct pollfd p = { .fd = f->fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t n = read(f->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if ((unsigned char)buf[i] == 0xff) {
				ll = 0;   /* qemu-ga's lexer resets on it */
				continue;
			}
			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			json_t *req = json_loadb(line, ll, 0, NULL);
			ll = 0;
			if (req)
				answer(f, req);
			json_decref(req);
		}
	}
	return NULL;
}

static struct guest_agent *start(struct fake *f, enum mode mode, unsigned timeout_ms)
{
	struct guest_agent *a;
	char err[256];
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	if (guest_agent_create(&a, timeout_ms, &f->fd, err, sizeof(err)) < 0)
		return NULL;
	pthread_create(&f->t, NULL, fake_main, f);
	return a;
}

static void finish(struct fake *f, struct guest_agent *a)
{
	f->stop = true;
	pthread_join(f->t, NULL);
	f->mode = SILENT;
	guest_agent_free(a);
	close(f->fd);
}

TEST(honest_agent)
{
	struct fake f;
	struct guest_agent *a = start(&f, HONEST, 2000);
	REQUIRE(a);
	char err[256];
	json_t *out;
	CHECK_EQ(guest_agent_ping(a, err, sizeof(err)), 0);
	CHECK_EQ(guest_agent_info(a, &out, err, sizeof(err)), 0);
	CHECK_STR_EQ(json_string_value(json_object_get(out, "version")), "7.2.9");
	json_decref(out);
	CHECK_EQ(guest_agent_interfaces(a, &out, err, sizeof(err)), 0);
	CHECK_EQ(json_array_size(out), 2);
	json_decref(out);
	CHECK_EQ(guest_agent_set_time(a, 1700000000000000000ll, err, sizeof(err)), 0);
	CHECK_EQ(guest_agent_fstrim(a, &out, err, sizeof(err)), -EREMOTEIO);
	CHECK_CONTAINS(err, "CommandNotFound");
	CHECK_EQ(guest_agent_shutdown(a, "powerdown", err, sizeof(err)), 0);
	CHECK_EQ(guest_agent_ping(a, err, sizeof(err)), 0);
	CHECK_STR_EQ(f.order, "ping,info,network-get-interfaces,set-time,fstrim,shutdown,ping");
	finish(&f, a);
}

TEST(a_guest_restored_frozen_is_thawed_one_restored_thawed_only_asked)
{
	struct fake f;
	struct guest_agent *a = start(&f, HONEST, 2000);
	REQUIRE(a);
	f.frozen = true;   /* restored from a snapshot taken between its freeze and its thaw */
	char err[256];
	bool was;
	unsigned n = 99;
	CHECK_EQ(guest_agent_thaw_if_frozen(a, &was, &n, err, sizeof(err)), 0);
	CHECK(was);
	CHECK_EQ(n, 2);
	CHECK(!f.frozen);
	CHECK_EQ(guest_agent_thaw_if_frozen(a, &was, &n, err, sizeof(err)), 0);
	CHECK(!was);
	CHECK_EQ(n, 0);
	CHECK_STR_EQ(f.order, "fsfreeze-status,fsfreeze-thaw,fsfreeze-status");
	finish(&f, a);
	a = start(&f, SILENT, 200);
	REQUIRE(a);
	CHECK_EQ(guest_agent_thaw_if_frozen(a, &was, &n, err, sizeof(err)), -ETIMEDOUT);
	CHECK(!was);
	finish(&f, a);
}

TEST(garbage_before_the_sync_answer_is_skipped)
{
	struct fake f;
	struct guest_agent *a = start(&f, GARBAGE_FIRST, 2000);
	REQUIRE(a);
	char err[256];
	CHECK_EQ(guest_agent_ping(a, err, sizeof(err)), 0);
	finish(&f, a);
}

TEST(silent_agent_costs_the_timeout)
{
	struct fake f;
	struct guest_agent *a = start(&f, SILENT, 300);
	REQUIRE(a);
	char err[256];
	uint64_t t0 = now_ms();
	CHECK_EQ(guest_agent_ping(a, err, sizeof(err)), -ETIMEDOUT);
	uint64_t took = now_ms() - t0;
	CHECK(took >= 290 && took < 1500);
	CHECK_CONTAINS(err, "did not answer guest-sync-delimited within 300 ms");
	finish(&f, a);
}

TEST(flood_costs_the_timeout)
{
	struct fake f;
	struct guest_agent *a = start(&f, FLOOD, 400);
	REQUIRE(a);
	char err[256];
	uint64_t t0 = now_ms();
	CHECK_EQ(guest_agent_ping(a, err, sizeof(err)), -ETIMEDOUT);
	CHECK(now_ms() - t0 < 2000);
	finish(&f, a);
}

TEST(a_late_answer_is_not_taken_for_the_next)
{
	struct fake f;
	struct guest_agent *a = start(&f, LATE, 200);
	REQUIRE(a);
	char err[256];
	json_t *out;
	CHECK_EQ(guest_agent_info(a, &out, err, sizeof(err)), -ETIMEDOUT);
	CHECK_CONTAINS(err, "did not answer guest-info");
	usleep(400 * 1000);   /* the late info answer is in the socket now */
	CHECK_EQ(guest_agent_ping(a, err, sizeof(err)), 0);
	finish(&f, a);
}

TEST(bad_answers_are_errors_and_the_stream_recovers)
{
	struct fake f;
	struct guest_agent *a = start(&f, BAD_ANSWERS, 1000);
	REQUIRE(a);
	char err[256];
	json_t *out;
	CHECK_EQ(guest_agent_interfaces(a, &out, err, sizeof(err)), -EPROTO);
	CHECK_CONTAINS(err, "hardware-address");
	CHECK_EQ(guest_agent_info(a, &out, err, sizeof(err)), -EPROTO);
	CHECK_CONTAINS(err, "not JSON");
	CHECK_EQ(guest_agent_ping(a, err, sizeof(err)), 0);
	finish(&f, a);
}

static int note_run(void *opaque, char *err, size_t errlen)
{
	struct fake *f = opaque;
	snprintf(f->order + strlen(f->order), sizeof(f->order) - strlen(f->order), ",SAVE");
	return 0;
}

static int failing_run(void *opaque, char *err, size_t errlen)
{
	note_run(opaque, err, errlen);
	return error_set(err, errlen, -EIO, "the save failed");
}

TEST(frozen_run_thaws_on_every_path)
{
	struct fake f;
	struct guest_agent *a = start(&f, HONEST, 1000);
	REQUIRE(a);
	char err[256];
	struct guest_freeze_report rep;
	CHECK_EQ(guest_agent_frozen_run(a, true, note_run, &f, &rep, err, sizeof(err)), 0);
	CHECK(rep.frozen && rep.nfs == 2 && rep.thaw_err == 0);
	CHECK_STR_EQ(f.order, "fsfreeze-freeze,SAVE,fsfreeze-thaw");
	f.order[0] = 0;
	CHECK_EQ(guest_agent_frozen_run(a, true, failing_run, &f, &rep, err, sizeof(err)), -EIO);
	CHECK_STR_EQ(f.order, "fsfreeze-freeze,SAVE,fsfreeze-thaw");
	CHECK(!guest_agent_freeze_pending(a));
	finish(&f, a);
}

TEST(a_thaw_never_answered_is_reported_and_retried_at_the_end)
{
	struct fake f;
	struct guest_agent *a = start(&f, NO_THAW, 300);
	REQUIRE(a);
	char err[256];
	struct guest_freeze_report rep;
	CHECK_EQ(guest_agent_frozen_run(a, true, note_run, &f, &rep, err, sizeof(err)), -ETIMEDOUT);
	CHECK(rep.frozen);
	CHECK_CONTAINS(err, "thawing");
	CHECK(guest_agent_freeze_pending(a));
	f.mode = HONEST;
	CHECK_EQ(guest_agent_thaw_pending(a, err, sizeof(err)), 0);
	CHECK(!guest_agent_freeze_pending(a));
	finish(&f, a);
}

TEST(a_silent_agent_with_auto_runs_unfrozen_and_filesystem_refuses)
{
	struct fake f;
	struct guest_agent *a = start(&f, SILENT, 200);
	REQUIRE(a);
	char err[256];
	struct guest_freeze_report rep;
	CHECK_EQ(guest_agent_frozen_run(a, false, note_run, &f, &rep, err, sizeof(err)), 0);
	CHECK(!rep.frozen);
	CHECK_CONTAINS(f.order, "SAVE");
	f.order[0] = 0;
	CHECK_EQ(guest_agent_frozen_run(a, true, note_run, &f, &rep, err, sizeof(err)), -ETIMEDOUT);
	CHECK_CONTAINS(err, "freezing");
	CHECK(!strstr(f.order, "SAVE"));
	finish(&f, a);
}

static bool closed_port(void *opaque)
{
	return false;
}

TEST(a_closed_port_sends_nothing)
{
	struct fake f;
	struct guest_agent *a = start(&f, HONEST, 1000);
	REQUIRE(a);
	guest_agent_set_port_check(a, closed_port, NULL);
	char err[256];
	uint64_t t0 = now_ms();
	CHECK_EQ(guest_agent_ping(a, err, sizeof(err)), -ENOTCONN);
	unsigned n;
	CHECK_EQ(guest_agent_freeze(a, &n, err, sizeof(err)), -ENOTCONN);
	CHECK(!guest_agent_freeze_pending(a));
	CHECK(now_ms() - t0 < 100);
	usleep(100 * 1000);
	CHECK_STR_EQ(f.order, "");
	finish(&f, a);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
