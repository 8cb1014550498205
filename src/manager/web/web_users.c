/* The users of the web page (--users FILE): one "name:role:hash" a line, role admin or
 * readonly, hash a crypt(3) string (yescrypt "$y$...", made by `petrelctl web-user`), '#'
 * comments. libcrypt (libxcrypt, Debian's) hashes and checks: salted, slow on purpose. The
 * file is read at every login, so an edit counts at once without a restart. */
#include "manager/web/web.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 1024

bool web_token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0 && la > 0;
}

static int copy_field(const char *p, size_t n, char *out, size_t size)
{
	if (n == 0 || n >= size)
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int web_users_parse_line(const char *line, char *name, size_t nsize, enum web_role *role, char *hash,
			 size_t hsize)
{
	while (*line == ' ' || *line == '\t')
		line++;
	size_t len = strcspn(line, "\r\n");
	if (len == 0 || line[0] == '#')
		return 0;
	const char *c1 = memchr(line, ':', len);
	const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
	if (!c2)
		return -EINVAL;
	if (copy_field(line, (size_t)(c1 - line), name, nsize) < 0)
		return -EINVAL;
	for (const char *p = name; *p; p++) /* a user's name as a VM's: shown, logged */
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			return -EINVAL;
	size_t rlen = (size_t)(c2 - c1 - 1);
	if (rlen == 5 && !strncmp(c1 + 1, "admin", 5))
		*role = ROLE_ADMIN;
	else if (rlen == 8 && !strncmp(c1 + 1, "readonly", 8))
		*role = ROLE_READONLY;
	else
		return -EINVAL;
	const char *h = c2 + 1;
	size_t hlen = len - (size_t)(h - line);
	if (copy_field(h, hlen, hash, hsize) < 0 || hash[0] != '$' || strpbrk(hash, ": \t"))
		return -EINVAL;
	return 1;
}

/* A hash of nothing anyone types, checked for an unknown user so that the answer takes the
 * time of a real check. */
static char decoy_hash[CRYPT_OUTPUT_SIZE];

static void make_decoy(void)
{
	if (web_users_hash("\x01 no user", decoy_hash, sizeof(decoy_hash)) < 0)
		decoy_hash[0] = '\0';
}

static const char *decoy(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, make_decoy);
	return decoy_hash;
}

int web_users_check(const char *file, const char *user, const char *password, enum web_role *role)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return -errno;
	char line[LINE_MAX_BYTES], name[65], hash[CRYPT_OUTPUT_SIZE];
	enum web_role r = ROLE_NONE, lr;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (web_users_parse_line(line, name, sizeof(name), &lr, hash, sizeof(hash)) == 1 && !strcmp(name, user)) {
			found = true;
			r = lr;
		}
	}
	fclose(f);
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	const char *setting = found ? hash : decoy();
	const char *out = setting[0] ? crypt_rn(password, setting, cd, sizeof(*cd)) : NULL;
	bool ok = found && out && out[0] == '$' && web_token_eq(out, hash);
	free(cd);
	if (!ok)
		return -EACCES;
	*role = r;
	return 0;
}

int web_users_hash(const char *password, char *out, size_t size)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	int e = -EINVAL;
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt))) {
		const char *h = crypt_rn(password, salt, cd, sizeof(*cd));
		if (h && h[0] == '$' && strlen(h) < size) {
			strcpy(out, h);
			e = 0;
		}
	}
	free(cd);
	return e;
}
