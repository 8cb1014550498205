/* dnsmasq's lease file, read as untrusted input (leases.h). */
#include "manager/net/leases.h"

#include "config/devices_config.h"
#include "util/error.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Seconds: 1..18 decimal digits (no sign, no overflow). */
static bool parse_expiry(const char *s, int64_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 18)
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* A guest's host name kept only if it is 1..63 of [A-Za-z0-9-]; "*" (none) and anything else: "". */
static void copy_hostname(const char *s, char out[64])
{
	size_t n = strlen(s);
	out[0] = '\0';
	if (n == 0 || n > 63)
		return;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			return;
	}
	memcpy(out, s, n + 1);
}

/* One line (NUL-terminated, no newline) into l; false when it is no IPv4 Ethernet lease (dnsmasq
 * writes another hardware type's address with a "TYPE-" prefix: mac_parse refuses it). */
static bool parse_line(char *line, struct lease *l)
{
	char *field[5], *save = NULL;
	int nf = 0;
	for (char *tok = strtok_r(line, " \t\r", &save); tok && nf < 5; tok = strtok_r(NULL, " \t\r", &save))
		field[nf++] = tok;
	if (nf < 4)
		return false;
	memset(l, 0, sizeof(*l));
	if (!parse_expiry(field[0], &l->expiry) || mac_parse(field[1], l->mac) < 0 || inet_pton(AF_INET, field[2], &l->ip) != 1)
		return false;
	copy_hostname(field[3], l->hostname);
	return true;
}

int leases_parse(const char *text, size_t len, struct lease **out, size_t *n, char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	_cleanup_free_ struct lease *all = NULL;
	size_t count = 0, cap = 0;
	char line[LEASES_LINE_MAX + 1];
	for (size_t pos = 0; pos < len && count < LEASES_MAX;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len, ll = end - pos;
		bool fits = ll <= LEASES_LINE_MAX && !memchr(text + pos, '\0', ll);
		if (fits)
			memcpy(line, text + pos, ll), line[ll] = '\0';
		pos = end + 1;
		struct lease l;
		if (!fits || !parse_line(line, &l))
			continue;
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct lease *grown = realloc(all, ncap * sizeof(*all));
			if (!grown)
				return error_oom(err, errlen);
			all = grown;
			cap = ncap;
		}
		all[count++] = l;
	}
	*n = count;
	*out = count ? TAKE_PTR(all) : NULL;
	return 0;
}

int leases_read_file(const char *path, struct lease **out, size_t *n, char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : error_set(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	const size_t max = (size_t)LEASES_MAX * LEASES_LINE_MAX;
	_cleanup_free_ char *text = malloc(max);
	if (!text)
		return error_oom(err, errlen);
	size_t len = 0;
	while (len < max) {
		ssize_t r = read(fd, text + len, max - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return error_set(err, errlen, -errno, "cannot read %s: %s", path, strerror(errno));
		if (r == 0)
			break;
		len += (size_t)r;
	}
	return leases_parse(text, len, out, n, err, errlen);
}
