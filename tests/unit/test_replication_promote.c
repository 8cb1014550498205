/* External takeover (src/ha/promote.c, standby.c): a real standby (its thread, its listening
 * socket) on the fake machine of mig_stream.h, fed by a primary that connects, sends a
 * stream and then holds it open or goes away. In external mode a lost primary leaves the
 * standby holding its checkpoint (primary-lost) and the guest not running, until promoted;
 * what cannot be promoted is refused and loses nothing. */
#include "unit.h"
#include "mig_stream.h"
#include "api_call.h"
#include "api/controller.h"
#include "util/log.h"

#include <sys/un.h>

static char sock_path[64];
static char url[80];

struct primary {
	int fd;
	struct stream out;
	pthread_t t;
	bool hold;                 /* keep the stream open (reading what the standby says) */
	unsigned want;             /* the answers its stream asks for: READY, a CACK per CEND */
	unsigned answers;          /* those read so far */
	bool gone;                 /* the standby closed the stream */
};

/* What the standby says, message by message: READY and CACKs counted. */
static void primary_read(struct primary *p)
{
	uint8_t buf[8192];
	size_t have = 0;
	while (__atomic_load_n(&p->hold, __ATOMIC_ACQUIRE)) {
		ssize_t n = recv(p->fd, buf + have, sizeof(buf) - have, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			break;
		have += n > 0 ? (size_t)n : 0;
		struct mig_hdr h;
		while (have >= sizeof(h)) {
			memcpy(&h, buf, sizeof(h));
			if (h.len > sizeof(buf) - sizeof(h))
				abort(); /* the standby says no more than a FAIL's reason */
			if (have < sizeof(h) + h.len)
				break;
			if (h.type == MIG_READY || h.type == MIG_CACK)
				__atomic_add_fetch(&p->answers, 1, __ATOMIC_RELEASE);
			have -= sizeof(h) + h.len;
			memmove(buf, buf + sizeof(h) + h.len, have);
		}
	}
	__atomic_store_n(&p->gone, true, __ATOMIC_RELEASE);
}

static void *primary_main(void *arg)
{
	struct primary *p = arg;
	for (size_t off = 0; off < p->out.len;) {
		ssize_t n = send(p->fd, p->out.p + off, p->out.len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	struct timeval tv = { .tv_usec = 10000 };
	setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	primary_read(p);
	close(p->fd); /* the primary dies: its stream ends */
	return NULL;
}

/* The answers a stream asks for: READY to its definition, a CACK to each checkpoint's end. */
static unsigned answers_wanted(struct stream s)
{
	unsigned n = 0;
	struct mig_hdr h;
	for (size_t off = 0; off + sizeof(h) <= s.len; off += sizeof(h) + h.len) {
		memcpy(&h, s.p + off, sizeof(h));
		n += h.type == MIG_DEFN || h.type == MIG_CEND;
	}
	return n;
}

static void primary_start(struct primary *p, struct stream s, bool hold)
{
	p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	if (p->fd < 0 || connect(p->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		abort();
	p->out = s;
	p->hold = hold;
	p->want = answers_wanted(s);
	p->answers = 0;
	p->gone = false;
	if (pthread_create(&p->t, NULL, primary_main, p) != 0)
		abort();
}

/* The primary dies (its stream ends), having read the acknowledgements of what it sent (as a
 * real one waits for READY before its pages): not after a fixed time, which a loaded machine's
 * standby, still building its machine, outlasted and then found nobody to tell it was ready.
 * Sooner if the standby cut the stream (a promotion). */
static void primary_end(struct primary *p)
{
	for (int i = 0; i < 3000 && !__atomic_load_n(&p->gone, __ATOMIC_ACQUIRE) &&
			__atomic_load_n(&p->answers, __ATOMIC_ACQUIRE) < p->want; i++)
		usleep(10000);
	__atomic_store_n(&p->hold, false, __ATOMIC_RELEASE);
	pthread_join(p->t, NULL);
	free(p->out.p);
}

static const struct mig_receive_hooks *standby_hooks = &hooks;

/* The standby, listening (external takeover unless auto). */
static struct replication *standby(bool external, unsigned timeout_ms)
{
	snprintf(sock_path, sizeof(sock_path), "/tmp/petrel-promote-%d.sock", (int)getpid());
	snprintf(url, sizeof(url), "unix:%s", sock_path);
	unlink(sock_path);
	struct repl_standby_opts o = { .listen_url = url, .failure_timeout_ms = timeout_ms, .console_out_fd = -1,
				       .takeover = external ? REPL_TAKEOVER_EXTERNAL : REPL_TAKEOVER_AUTO };
	struct replication *r = NULL;
	vm_config_init(&cfg);
	destroyed = 0;
	running = false;
	int e = repl_standby_start_hooks(&vm, &cfg, &o, standby_hooks, NULL, NULL, &r, err, sizeof(err));
	if (e < 0) {
		fprintf(stderr, "standby: %s\n", err);
		abort();
	}
	return r;
}

static enum repl_state state_of(struct replication *r)
{
	struct repl_status st;
	replication_status(r, &st);
	return st.state;
}

static bool becomes(struct replication *r, enum repl_state want)
{
	for (int i = 0; i < 500; i++) {
		if (state_of(r) == want)
			return true;
		usleep(10000);
	}
	return false;
}

/* The initial sync and two complete checkpoints. */
static struct stream two_checkpoints(void)
{
	struct stream s = begin();
	pages(&s, 0x1000, 0x11);
	whole_checkpoint(&s, 1);
	checkpoint(&s, MIG_CKPT, 2);
	pages(&s, 0x2000, 0x22);
	state(&s);
	checkpoint(&s, MIG_CEND, 2);
	return s;
}

/* A standby whose primary sent two checkpoints and died. */
static struct replication *standby_of_a_dead_primary(bool external)
{
	struct replication *r = standby(external, 200);
	struct primary p;
	primary_start(&p, two_checkpoints(), true);
	primary_end(&p); /* the stream ends: the primary is gone */
	return r;
}

static void finish(struct replication *r)
{
	replication_free(r);
	if (vm.mem.nregions && !destroyed)
		fake_destroy(&vm);
	vm_config_free(&cfg);
	unlink(sock_path);
}

TEST(a_lost_primary_leaves_an_external_standby_waiting_until_promoted)
{
	struct replication *r = standby_of_a_dead_primary(true);
	REQUIRE(becomes(r, REPL_PRIMARY_LOST));
	usleep(400000); /* twice the failure timeout: still not running */
	CHECK(!running);
	CHECK_EQ(state_of(r), REPL_PRIMARY_LOST);
	struct repl_status st;
	replication_status(r, &st);
	CHECK_EQ(st.checkpoints, 2);
	CHECK_EQ(st.takeover, REPL_TAKEOVER_EXTERNAL);
	CHECK(strstr(st.reason, "stream ended") != NULL);

	CHECK_EQ(replication_promote(r, 5000, err, sizeof(err)), 0);
	CHECK(running);
	CHECK_EQ(state_of(r), REPL_ACTIVE);
	CHECK_EQ(byte_at(0x2000), 0x22); /* the last complete checkpoint's memory */
	replication_status(r, &st);
	CHECK_EQ(st.generation, 2);      /* one on: fences the old primary */
	CHECK(strstr(st.reason, "promoted") != NULL);

	/* A second promotion is refused, and changes nothing. */
	CHECK_EQ(replication_promote(r, 5000, err, sizeof(err)), -EALREADY);
	CHECK(strstr(err, "already promoted") != NULL);
	CHECK_EQ(state_of(r), REPL_ACTIVE);
	finish(r);
}

TEST(an_auto_standby_takes_over_by_itself)
{
	struct replication *r = standby_of_a_dead_primary(false);
	REQUIRE(becomes(r, REPL_ACTIVE));
	CHECK(running);
	finish(r);
}

TEST(a_promotion_before_any_checkpoint_is_refused_and_loses_nothing)
{
	struct replication *r = standby(true, 200);
	CHECK_EQ(replication_promote(r, 5000, err, sizeof(err)), -ENODATA);
	CHECK(strstr(err, "no complete checkpoint") != NULL);
	CHECK_EQ(state_of(r), REPL_WAITING);

	/* During the initial sync too; the replication goes on and the promotion works later. */
	struct stream s = begin();
	pages(&s, 0x1000, 0x11);
	struct primary p;
	primary_start(&p, s, true);
	REQUIRE(becomes(r, REPL_SYNCING));
	CHECK_EQ(replication_promote(r, 5000, err, sizeof(err)), -ENODATA);
	CHECK_EQ(state_of(r), REPL_SYNCING);
	CHECK(!running);
	primary_end(&p); /* and it dies before a checkpoint: nothing to run, nothing to promote */
	REQUIRE(becomes(r, REPL_STOPPED));
	CHECK(!running);
	CHECK_EQ(replication_promote(r, 5000, err, sizeof(err)), -ESRCH);
	CHECK(strstr(err, "first checkpoint") != NULL);
	finish(r);
}

/* The cluster knows first (it fenced the primary's host, whose socket stays silent): a
 * promotion while the stream is open cuts it and runs the last complete checkpoint, not an
 * open one. */
TEST(a_promotion_while_the_primary_s_stream_is_open_cuts_it)
{
	struct replication *r = standby(true, 60000);
	struct stream s = two_checkpoints();
	checkpoint(&s, MIG_CKPT, 3);         /* an open checkpoint: never applied */
	pages(&s, 0x3000, 0x33);
	struct primary p;
	primary_start(&p, s, true);
	REQUIRE(becomes(r, REPL_PROTECTED));
	for (int i = 0; i < 100; i++) {      /* until checkpoint 2 is in */
		struct repl_status st;
		replication_status(r, &st);
		if (st.checkpoints == 2)
			break;
		usleep(10000);
	}
	CHECK_EQ(replication_promote(r, 5000, err, sizeof(err)), 0);
	CHECK(running);
	CHECK_EQ(byte_at(0x2000), 0x22);
	CHECK_EQ(byte_at(0x3000), 0);
	primary_end(&p);
	finish(r);
}

TEST(a_standby_waiting_to_be_promoted_can_still_be_stopped)
{
	struct replication *r = standby_of_a_dead_primary(true);
	REQUIRE(becomes(r, REPL_PRIMARY_LOST));
	replication_free(r); /* the cluster stops the unpromoted instance */
	CHECK(!running);
	CHECK_EQ(destroyed, 1);
	vm_config_free(&cfg);
	unlink(sock_path);
}

TEST(a_primary_cannot_be_promoted)
{
	struct replication r = { .fd = -1, .lfd = -1, .cancel_efd = -1, .promote_efd = -1 };
	pthread_mutex_init(&r.lock, NULL);
	r.st.role = REPL_PRIMARY;
	r.st.state = REPL_PROTECTED;
	r.st.checkpoints = 5;
	CHECK_EQ(replication_promote(&r, 100, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "primary") != NULL);
	CHECK_EQ(r.st.state, REPL_PROTECTED);
	pthread_mutex_destroy(&r.lock);
}

/* The API during a promotion (src/api/ctl_replication.c): PATCH /replication is asked at once
 * and answered once the guest runs, from the controller's worker; the API thread serves the
 * other requests meanwhile (it used to wait there, up to 10 s). The takeover is held (its
 * load waits) to see it under way. */
static bool hold_takeover;

static int held_load(struct vm *v, const uint8_t *buf, size_t len, const struct snapshot_load_opts *o, char *e,
		     size_t elen)
{
	while (__atomic_load_n(&hold_takeover, __ATOMIC_ACQUIRE))
		usleep(1000);
	return fake_load(v, buf, len, o, e, elen);
}

static const struct mig_receive_hooks held_hooks = {
	.build = fake_build, .postcopy = no_postcopy, .load = held_load, .start = fake_start, .destroy = fake_destroy,
};

static struct {
	bool done;
	unsigned status;
} answer;

static void answered(void *opaque, struct api_response *resp)
{
	(void)opaque;
	answer.status = resp->status;
	api_response_free(resp);
	__atomic_store_n(&answer.done, true, __ATOMIC_RELEASE);
}

TEST(the_api_answers_during_a_promotion)
{
	standby_hooks = &held_hooks;
	struct replication *r = standby_of_a_dead_primary(true);
	standby_hooks = &hooks;
	REQUIRE(becomes(r, REPL_PRIMARY_LOST));
	struct controller ctl;
	log_set_level(LOG_OFF);
	REQUIRE_EQ(ctl_init(&ctl, "unit"), 0);
	ctl.repl = r;
	REQUIRE_EQ(ctl_start_worker(&ctl), 0);
	__atomic_store_n(&hold_takeover, true, __ATOMIC_RELEASE);
	const char *promote = "{\"action\": \"promote\"}";
	struct api_response resp;
	uint64_t t0 = now_ns();
	CHECK_EQ(api_handle(&ctl, "PATCH", "/replication", promote, strlen(promote), &resp, answered, NULL),
		 API_PENDING);
	CHECK(now_ns() - t0 < 1000000000ull);
	/* under way: the API answers, with the state */
	json_t *st = NULL;
	CHECK_EQ(api(&ctl, "GET", "/replication", NULL, &st), 200);
	CHECK_STR_EQ(json_string_value(json_object_get(st, "state")), "primary-lost");
	CHECK(json_is_true(json_object_get(st, "promoting")));
	json_decref(st);
	CHECK_EQ(api(&ctl, "PATCH", "/replication", promote, NULL), 400);   /* a second one: refused */
	CHECK(!__atomic_load_n(&answer.done, __ATOMIC_ACQUIRE));
	CHECK(!running);
	__atomic_store_n(&hold_takeover, false, __ATOMIC_RELEASE);
	for (int i = 0; i < 500 && !__atomic_load_n(&answer.done, __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	CHECK(__atomic_load_n(&answer.done, __ATOMIC_ACQUIRE));
	CHECK_EQ(answer.status, 204);   /* answered once the guest runs */
	CHECK(running);
	CHECK_EQ(state_of(r), REPL_ACTIVE);
	ctl_stop_worker(&ctl);
	ctl.repl = NULL;   /* finish() frees it */
	ctl_free(&ctl);
	finish(r);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	int r = unit_main(argc, argv);
	unlink(image);
	return r;
}
