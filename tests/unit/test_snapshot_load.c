/* Unit tests for restoring a snapshot (src/snapshot/load.c, info.c and the restore functions
 * they call). A snapshot is untrusted input: a bad one is refused with a reason, a load that
 * fails gives back everything it took (no fd, no mapping) so the process can load again, and
 * nothing restored lets the guest reach outside what was checked. No /dev/kvm needed: without
 * it a load fails where the machine is built, which is one of the paths under test. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "snap_state_file.h"
#include "fake_queue.h"
#include "rng_mmio.h"

#include "bus/bus.h"
#include "config/vm_config.h"
#include "devices/legacy/rtc.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio_mmio.h"
#include "snapshot/sections.h"
#include "snapshot/snapshot.h"
#include "vm/vm_internal.h"

#define MEM_MIB 32

/* A state file whose definition has a drive that cannot be opened, and its memory file. */
static void write_snapshot(const char *state, const char *memf)
{
	static const char conf[] =
		"{\"boot-source\": {\"kernel_image_path\": \"/nonexistent/vmlinux\"},"
		" \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 32},"
		" \"drives\": [{\"drive_id\": \"d0\", \"path_on_host\": \"/nonexistent/d0.img\","
		" \"is_root_device\": false, \"is_read_only\": false}]}";
	struct vm_config cfg;
	char err[256] = "";
	vm_config_init(&cfg);
	if (vm_config_parse_json(conf, &cfg, err, sizeof(err)) < 0) {
		printf("config: %s\n", err);
		exit(2);
	}
	uint8_t id[16];
	memset(id, 0x5a, sizeof(id));
	write_state_file(state, memf, &cfg, id, 1, MEM_MIB);
	vm_config_free(&cfg);
	int fd = open(memf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)MEM_MIB << 20) < 0) {
		perror(memf);
		exit(2);
	}
	close(fd);
}

/* The machine cannot be built (no /dev/kvm here, or a drive that cannot be opened): the load
 * fails with a reason, and whatever the half-built machine held is given back. */
TEST(failed_build_leaks_nothing)
{
	char dir[] = "/tmp/petrel-snapload-XXXXXX";
	REQUIRE(mkdtemp(dir) != NULL);
	char state[128], memf[128];
	snprintf(state, sizeof(state), "%s/vm.state", dir);
	snprintf(memf, sizeof(memf), "%s/vm.mem", dir);
	write_snapshot(state, memf);
	struct snapshot_load_opts o = { .state_path = state, .mem_path = memf, .backend = SNAP_MEM_FILE };
	int before = -1;
	for (int round = 0; round < 4; round++) { /* round 0 warms up what stays open for good */
		struct vm_config cfg;
		char err[512] = "";
		REQUIRE_EQ(snapshot_read_config(&o, &cfg, err, sizeof(err)), 0);
		struct vm *vm = calloc(1, sizeof(*vm));
		REQUIRE(vm != NULL);
		int e = snapshot_load(vm, &cfg, &o, STDOUT_FILENO, err, sizeof(err));
		CHECK(e < 0);
		CHECK(err[0] != '\0');
		free(vm);
		vm_config_free(&cfg);
		if (round == 0)
			before = unit_open_fds();
		else
			CHECK_EQ(unit_open_fds(), before);
	}
	unlink(state);
	unlink(memf);
	rmdir(dir);
}

/* The RTC's offset is added to the host's time at every guest read of a time register: a
 * saved one near INT64_MAX overflowed (undefined behaviour; UBSan aborts on it). */
TEST(rtc_refuses_an_offset_that_overflows_the_clock)
{
	struct rtc r;
	rtc_init(&r, (uint64_t)MEM_MIB << 20, 0);
	struct rtc_state st = r.st;
	char err[256] = "";
	st.offset_sec = INT64_MAX;
	CHECK_EQ(rtc_restore(&r, &st, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "offset");
	st.offset_sec = INT64_MIN;
	CHECK_EQ(rtc_restore(&r, &st, err, sizeof(err)), -EINVAL);
	/* what a guest can set itself (year 25599) still loads */
	st.offset_sec = 800000000000ll;
	CHECK_EQ(rtc_restore(&r, &st, err, sizeof(err)), 0);
	st.offset_sec = -3600;
	CHECK_EQ(rtc_restore(&r, &st, err, sizeof(err)), 0);
	CHECK_EQ(r.st.offset_sec, -3600);
}

static void mw(struct virtio_mmio *m, uint32_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	virtio_mmio_write(m, off, b, 4);
}

/* A saved queue's "ready" is a bool in the file: a byte of 2 is neither true nor false to the
 * compiler. Restored as is, the queue was enabled (rings checked for its size) and still
 * writable to the driver, which could then grow the size under the checked rings. */
TEST(virtio_restore_refuses_a_queue_flag_that_is_not_0_or_1)
{
	struct virtio_rng r;
	struct virtio_mmio m;
	struct bus bus;
	REQUIRE_EQ(rng_on_mmio(&r, NULL, &m, &bus), 0);
	struct virtio_state vs = r.vdev.st;
	vs.queues[0].size = QS;
	vs.queues[0].desc_gpa = DESC;
	vs.queues[0].avail_gpa = AVAIL;
	vs.queues[0].used_gpa = USED;
	uint8_t two = 2;
	memcpy(&vs.queues[0].ready, &two, 1);
	char err[256] = "";
	int e = virtio_restore(&r.vdev, &vs, r.vdev.host_features, err, sizeof(err));
	if (e == 0) { /* loaded: the driver must not be able to resize an enabled queue */
		mw(&m, 0x30, 0);
		mw(&m, 0x38, 1024);
		CHECK_EQ(r.vdev.st.queues[0].size, QS);
	}
	CHECK_EQ(e, -EINVAL);
	virtio_mmio_destroy(&m);
	virtio_dev_destroy(&r.vdev);
}

/* The MSI-X enable and function mask bits are bools in the file too (struct msix_state, in the
 * VPCI section): a byte of 8 was loaded as is, undefined behaviour at the first look at a vector
 * (fuzz_device_state found it). Refused; 0 and 1 still load. */
TEST(msix_restore_refuses_a_flag_that_is_not_0_or_1)
{
	struct pci_device pdev;
	struct msix m;
	pci_device_init(&pdev, "msix-test", 0x1af4, 0x1044, 0xff0000, 1, 0x1af4, 0x40, NULL, NULL);
	pci_device_set_bar(&pdev, 0, 0x8000);
	REQUIRE_EQ(msix_init(&m, &pdev, 2, 0, 0x4000, 0x5000, NULL, NULL), 0);
	char err[256] = "";
	for (unsigned f = 0; f < 2; f++) {
		struct msix_state st = m.st;
		uint8_t eight = 8;
		memcpy(f ? &st.masked : &st.enabled, &eight, 1);
		CHECK_EQ(msix_restore(&m, &st, err, sizeof(err)), -EINVAL);
		CHECK_CONTAINS(err, "neither 0 nor 1");
	}
	struct msix_state st = m.st;
	st.enabled = true;
	st.masked = false;
	/* and the configuration space's control word must say the same */
	CHECK_EQ(msix_restore(&m, &st, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "disagree");
	pdev.st.cfg[m.cap + 3] |= 0x80; /* MSI-X enable, bit 15 of the control word */
	CHECK_EQ(msix_restore(&m, &st, err, sizeof(err)), 0);
	CHECK(msix_enabled(&m));
	msix_destroy(&m);
}

/* The PCI status register was left out of the check and then copied: a saved status without
 * the capability-list bit hid MSI-X and virtio's capabilities from the guest. */
TEST(pci_restore_refuses_a_status_without_the_capability_list)
{
	struct pci_device pdev;
	struct msix m;
	pci_device_init(&pdev, "status-test", 0x1af4, 0x1044, 0xff0000, 1, 0x1af4, 0x40, NULL, NULL);
	pci_device_set_bar(&pdev, 0, 0x8000);
	REQUIRE_EQ(msix_init(&m, &pdev, 2, 0, 0x4000, 0x5000, NULL, NULL), 0); /* a capability */
	char err[256] = "";
	struct pci_config_state st = pdev.st;
	st.cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_CAP_LIST;
	CHECK_EQ(pci_device_restore(&pdev, &st, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "byte 0x6");
	CHECK(pdev.st.cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST);
	st = pdev.st;
	st.cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	CHECK_EQ(pci_device_restore(&pdev, &st, err, sizeof(err)), 0);
	msix_destroy(&m);
}

/* `petrel snapshot info` of a file whose VM section claims 2^32-1 vCPUs and virtio devices:
 * it looked each one up in turn (a scan of every section for each), for hours. */
TEST(info_of_absurd_counts_finishes)
{
	struct snap_writer w;
	snap_writer_init(&w);
	struct snap_vm sv = { .nvcpus = UINT32_MAX, .nvirtio = UINT32_MAX };
	snap_vm_put(&w, &sv);
	struct snap_mem sm = { .nregions = 1, .total = 1 << 20 };
	snap_mem_put(&w, &sm);
	REQUIRE_EQ(snap_finish(&w), 0);
	char *path = write_temp(w.buf, w.len);
	snap_writer_free(&w);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		alarm(10);
		FILE *out = fopen("/dev/null", "w");
		char err[256];
		_exit(out && snapshot_info(path, out, err, sizeof(err)) == 0 ? 0 : 1);
	}
	int status = 0;
	REQUIRE_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status)); /* not killed by the alarm */
	CHECK_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
	remove_temp(path);
}

int main(int argc, char **argv) { return unit_main(argc, argv); }
