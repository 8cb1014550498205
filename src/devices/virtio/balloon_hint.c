/* virtio-balloon free page hinting (VIRTIO_BALLOON_F_FREE_PAGE_HINT): see balloon.h and
 * docs/balloon.md.
 *
 * The host opens a run by writing a fresh id (2 or more) into free_page_hint_cmd_id. The
 * driver answers on the hinting queue with a 4-byte readable buffer holding that id, then
 * hands over free ranges as writable buffers, and ends with a buffer holding STOP. Writing
 * STOP or DONE into the configuration field closes the run from the host's side; DONE also
 * tells the driver to take its hinted pages back.
 *
 * The spec lets the device change a hinted page only while the guest has not written it since
 * the host issued the id the hint came with, never after DONE, and it must ignore hints that
 * came with another id than the current one. So a range is dropped only when the host has a
 * run open (cmd id >= 2) and the last id the driver sent is that run's, sent after the host
 * issued it: ranges sent before the driver's id, with an old run's id, or after the host wrote
 * STOP or DONE are used without being touched (and counted). Everything runs under the device lock, as do the configuration
 * reads through which the driver learns of DONE: once DONE is written no later buffer is
 * dropped, so pages the driver reuses after DONE keep what it writes. */
#include "devices/virtio/balloon_int.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

static bool run_open(const struct balloon_state *st)
{
	return st->hint_cmd_id >= BALLOON_HINT_CMD_FIRST;
}

/* The host's side of the protocol: a new command id, and the driver is told. Until the driver
 * sends the new id back, nothing it hints counts (an id it sent earlier, guessed, is not one
 * the host had issued). */
static void set_cmd(struct virtio_balloon *b, uint32_t cmd)
{
	b->st.hint_cmd_id = cmd;
	b->st.hint_flags &= ~BALLOON_HINT_JOINED;
	virtio_config_changed(&b->vdev);
}

/* Whether the driver's ranges belong to the run the host has open. */
static bool in_run(const struct balloon_state *st)
{
	return run_open(st) && (st->hint_flags & BALLOON_HINT_JOINED);
}

/* A readable buffer: the driver's command id (exactly 4 bytes, le32). */
static void guest_cmd(struct virtio_balloon *b, const struct iovec *v)
{
	if (v->iov_len != 4) {
		b->ctr.hint_invalid++;
		return;
	}
	uint32_t id;
	memcpy(&id, v->iov_base, 4);
	id = le32toh(id);
	bool had_run = in_run(&b->st);
	b->st.hint_guest_cmd = id;
	b->st.hint_flags |= BALLOON_HINT_GUEST_CMD;
	if (run_open(&b->st) && id == b->st.hint_cmd_id)
		b->st.hint_flags |= BALLOON_HINT_JOINED;
	else
		b->st.hint_flags &= ~BALLOON_HINT_JOINED;
	if (id != BALLOON_HINT_CMD_STOP && id != BALLOON_HINT_CMD_DONE)
		return;
	/* The driver finished hinting (DONE is not the driver's to send: taken as STOP). Only the
	 * end of the run it had joined counts: a STOP of an older run arriving after a new id was
	 * written must not close the new one. */
	if (had_run && (b->st.hint_flags & BALLOON_HINT_ACK_ON_STOP))
		set_cmd(b, BALLOON_HINT_CMD_DONE);
}

void balloon_hint_chain(struct virtio_balloon *b, const struct virtq_chain *c)
{
	/* virtq_pop put the readable buffers first and checked every one lies in guest RAM. */
	for (unsigned i = 0; i < c->n_out; i++)
		guest_cmd(b, &c->iov[i]);
	for (unsigned i = c->n_out; i < c->n_out + c->n_in; i++) {
		if (!in_run(&b->st)) {
			b->ctr.hint_ignored++;
			continue;
		}
		b->ctr.hint_count++;
		uint64_t n;
		if (balloon_release_iov(b, &c->iov[i], &n))
			b->ctr.hint_bytes += n;
		else
			b->ctr.hint_fails++;
	}
}

void balloon_hint_reset(struct virtio_balloon *b)
{
	/* The last id stays: a new driver never sees an id reused. */
	b->st.hint_cmd_id = BALLOON_HINT_CMD_STOP;
	b->st.hint_guest_cmd = 0;
	b->st.hint_flags = 0;
}

static int check(struct virtio_balloon *b, bool need_driver)
{
	if (!(b->st.flags & BALLOON_STATE_HINTING))
		return -EOPNOTSUPP;
	if (need_driver && !(b->vdev.st.status & VIRTIO_STATUS_DRIVER_OK))
		return -EAGAIN;
	return 0;
}

int virtio_balloon_hint_start(struct virtio_balloon *b, bool ack_on_stop)
{
	pthread_mutex_lock(&b->vdev.lock);
	int r = check(b, true);
	if (r == 0) {
		uint32_t id = b->st.hint_last_id + 1;
		if (id < BALLOON_HINT_CMD_FIRST)     /* wrapped: 0 and 1 are not run ids */
			id = BALLOON_HINT_CMD_FIRST;
		b->st.hint_last_id = id;
		if (ack_on_stop)
			b->st.hint_flags |= BALLOON_HINT_ACK_ON_STOP;
		else
			b->st.hint_flags &= ~BALLOON_HINT_ACK_ON_STOP;
		set_cmd(b, id);
	}
	pthread_mutex_unlock(&b->vdev.lock);
	return r;
}

int virtio_balloon_hint_stop(struct virtio_balloon *b)
{
	pthread_mutex_lock(&b->vdev.lock);
	int r = check(b, true);
	if (r == 0)
		set_cmd(b, BALLOON_HINT_CMD_DONE);
	pthread_mutex_unlock(&b->vdev.lock);
	return r;
}

int virtio_balloon_hint_status(struct virtio_balloon *b, uint32_t *host_cmd, bool *has_guest,
			       uint32_t *guest_cmd_out)
{
	pthread_mutex_lock(&b->vdev.lock);
	int r = check(b, false);
	*host_cmd = b->st.hint_cmd_id;
	*has_guest = b->st.hint_flags & BALLOON_HINT_GUEST_CMD;
	*guest_cmd_out = b->st.hint_guest_cmd;
	pthread_mutex_unlock(&b->vdev.lock);
	return r;
}
