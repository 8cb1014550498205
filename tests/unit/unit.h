/* A tiny unit-test harness. One test file = one binary:
 *
 *   #include "unit.h"
 *   TEST(parses_empty) { CHECK_EQ(parse(""), -EINVAL); }
 *   int main(int argc, char **argv) { return unit_main(argc, argv); }
 *
 * Tests register themselves (constructor functions) and run in the order they are defined.
 * A failed CHECK prints file:line, what was compared and both values, marks the test failed
 * and lets it continue; REQUIRE variants end the test at once (for checks later ones depend
 * on). Each test prints one "PASS name" or "FAIL name" line, the run ends with
 * "N passed, N failed", and the exit status is non-zero if anything failed.
 * `./test_x word` runs only the tests whose name contains "word". write_temp/remove_temp give
 * code that reads files a temporary file holding given bytes.
 */
#ifndef PETREL_TESTS_UNIT_H
#define PETREL_TESTS_UNIT_H

#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNIT_MAX_TESTS 512

struct unit_test {
	const char *name;
	void (*fn)(void);
};

static struct unit_test unit_tests_[UNIT_MAX_TESTS];
static int unit_ntests_;
static int unit_failed_checks_;   /* in the running test */

static inline void unit_register_(const char *name, void (*fn)(void))
{
	if (unit_ntests_ >= UNIT_MAX_TESTS) {
		fprintf(stderr, "unit.h: more than %d tests; raise UNIT_MAX_TESTS\n", UNIT_MAX_TESTS);
		exit(2);
	}
	unit_tests_[unit_ntests_].name = name;
	unit_tests_[unit_ntests_].fn = fn;
	unit_ntests_++;
}

#define TEST(name)                                                                          \
	static void unit_test_##name(void);                                                 \
	__attribute__((constructor)) static void unit_register_##name(void)                 \
	{                                                                                   \
		unit_register_(#name, unit_test_##name);                                    \
	}                                                                                   \
	static void unit_test_##name(void)

static inline void unit_fail_(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void unit_fail_(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stdout, "  %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	unit_failed_checks_++;
}

#define UNIT_FAIL_(...) unit_fail_(__FILE__, __LINE__, __VA_ARGS__)

/* Each macro evaluates its arguments exactly once. The `_do` variants take the action to
 * run on failure (nothing for CHECK, `return` for REQUIRE). */
#define CHECK_DO_(cond, action)                                                             \
	do {                                                                                \
		if (!(cond)) {                                                              \
			UNIT_FAIL_("CHECK(%s) failed", #cond);                              \
			action;                                                             \
		}                                                                           \
	} while (0)

#define CHECK_EQ_DO_(a, b, action)                                                          \
	do {                                                                                \
		long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);               \
		if (unit_a_ != unit_b_) {                                                   \
			UNIT_FAIL_("CHECK_EQ(%s, %s) failed: %lld != %lld", #a, #b, unit_a_,  \
				   unit_b_);                                                \
			action;                                                             \
		}                                                                           \
	} while (0)

#define CHECK_EQ_U64_DO_(a, b, action)                                                      \
	do {                                                                                \
		uint64_t unit_a_ = (uint64_t)(a), unit_b_ = (uint64_t)(b);                  \
		if (unit_a_ != unit_b_) {                                                   \
			UNIT_FAIL_("CHECK_EQ_HEX(%s, %s) failed: 0x%" PRIx64 " != 0x%" PRIx64, \
				   #a, #b, unit_a_, unit_b_);                               \
			action;                                                             \
		}                                                                           \
	} while (0)

#define CHECK_STR_EQ_DO_(a, b, action)                                                      \
	do {                                                                                \
		const char *unit_a_ = (a), *unit_b_ = (b);                                  \
		if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_) != 0) {                \
			UNIT_FAIL_("CHECK_STR_EQ(%s, %s) failed: \"%s\" != \"%s\"", #a, #b,   \
				   unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)"); \
			action;                                                             \
		}                                                                           \
	} while (0)

#define CHECK_CONTAINS_DO_(hay, needle, action)                                             \
	do {                                                                                \
		const char *unit_h_ = (hay), *unit_n_ = (needle);                           \
		if (!unit_h_ || !strstr(unit_h_, unit_n_)) {                                \
			UNIT_FAIL_("CHECK_CONTAINS(%s, %s) failed: \"%s\" does not contain "  \
				   "\"%s\"", #hay, #needle, unit_h_ ? unit_h_ : "(null)",     \
				   unit_n_);                                                \
			action;                                                             \
		}                                                                           \
	} while (0)

#define UNIT_NOTHING_ ((void)0)

#define CHECK(cond)                    CHECK_DO_(cond, UNIT_NOTHING_)
#define CHECK_EQ(a, b)                 CHECK_EQ_DO_(a, b, UNIT_NOTHING_)
#define CHECK_EQ_HEX(a, b)             CHECK_EQ_U64_DO_(a, b, UNIT_NOTHING_)
#define CHECK_STR_EQ(a, b)             CHECK_STR_EQ_DO_(a, b, UNIT_NOTHING_)
#define CHECK_CONTAINS(hay, needle)    CHECK_CONTAINS_DO_(hay, needle, UNIT_NOTHING_)
#define CHECK_NULL(p)                  CHECK_DO_((p) == NULL, UNIT_NOTHING_)

#define REQUIRE(cond)                  CHECK_DO_(cond, return)
#define REQUIRE_EQ(a, b)               CHECK_EQ_DO_(a, b, return)

/* A new file in /tmp holding the `len` bytes at `data`, for code that reads files; its path,
 * which remove_temp deletes and frees. Exits if it cannot be made: nothing could be tested. */
static inline char *write_temp(const void *data, size_t len)
{
	char *path = strdup("/tmp/petrel-unit-XXXXXX");
	int fd = path ? mkstemp(path) : -1;
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror("write_temp");
		exit(2);
	}
	close(fd);
	return path;
}

static inline void remove_temp(char *path)
{
	unlink(path);
	free(path);
}

/* How many file descriptors the process has open: a leak check around code that must give
 * back what it opened. */
static inline int unit_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static inline int unit_main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < unit_ntests_; i++) {
		if (filter && !strstr(unit_tests_[i].name, filter))
			continue;
		unit_failed_checks_ = 0;
		unit_tests_[i].fn();
		if (unit_failed_checks_) {
			printf("FAIL %s\n", unit_tests_[i].name);
			failed++;
		} else {
			printf("PASS %s\n", unit_tests_[i].name);
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	if (passed + failed == 0) {
		printf("no tests ran\n");
		return 1;
	}
	return failed ? 1 : 0;
}

#endif
