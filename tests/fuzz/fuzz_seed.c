/* libFuzzer target: cloud-init's seed (src/manager/cloudinit): a definition's cloud-init
 * section (the input, JSON) checked by ci_def_check and, accepted, made into NoCloud's files by
 * ci_seed_make. A refusal is -EINVAL with a message; an accepted section's seed is within the
 * limit, its meta-data names the VM's UUID and host name, its user-data is a cloud-config, the
 * user's file or a multipart message whose boundary neither part contains, its network-config
 * is JSON. A section the check refused is made too (the writer must not trust its caller). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/cloudinit/ci_def.h"
#include "manager/cloudinit/seed.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define UUID "663cf08f-c355-4ee7-ac5a-e441a60df051"

static void check_seed(json_t *sec, const struct ci_seed *s)
{
	FUZZ_CHECK(ci_seed_size(s) <= CI_SEED_MAX_BYTES);
	json_t *md = json_loadb(s->text[CI_META_DATA], s->len[CI_META_DATA], 0, NULL);
	FUZZ_CHECK(md && !strcmp(json_string_value(json_object_get(md, "instance-id")), UUID));
	FUZZ_CHECK(!strcmp(json_string_value(json_object_get(md, "local-hostname")), ci_hostname(sec, "fz")));
	json_decref(md);
	const char *ud = s->text[CI_USER_DATA];
	const char *given = json_string_value(json_object_get(sec, "user_data"));
	FUZZ_CHECK(ud && strlen(ud) == s->len[CI_USER_DATA]);
	if (!strncmp(ud, "Content-Type: multipart/mixed; boundary=\"", 41)) {
		const char *b = ud + 41, *q = strchr(b, '"');
		FUZZ_CHECK(q && given);
		char end[80];
		FUZZ_CHECK(q - b < 64);
		snprintf(end, sizeof(end), "--%.*s--\n", (int)(q - b), b);
		size_t el = strlen(end);
		FUZZ_CHECK(s->len[CI_USER_DATA] >= el && !strcmp(ud + s->len[CI_USER_DATA] - el, end));
		char bnd[80];
		snprintf(bnd, sizeof(bnd), "%.*s", (int)(q - b), b);
		FUZZ_CHECK(!strstr(given, bnd));
	} else if (given) {
		FUZZ_CHECK(!strcmp(ud, given));
	} else {
		FUZZ_CHECK(!strncmp(ud, "#cloud-config\n", 14));
	}
	if (json_object_get(sec, "network_config")) {
		json_t *n = json_loadb(s->text[CI_NETWORK_CONFIG], s->len[CI_NETWORK_CONFIG], 0, NULL);
		FUZZ_CHECK(n && json_equal(n, json_object_get(sec, "network_config")));
		json_decref(n);
	} else {
		FUZZ_CHECK(!s->text[CI_NETWORK_CONFIG]);
	}
	const char *vd = json_string_value(json_object_get(sec, "vendor_data"));
	FUZZ_CHECK(vd ? s->text[CI_VENDOR_DATA] && !strcmp(vd, s->text[CI_VENDOR_DATA]) : !s->text[CI_VENDOR_DATA]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *sec = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!sec)
		return 0;
	json_t *doc = json_pack("{s:{s:s, s:O}}", "petrel", "name", "fz", CI_SECTION, sec);
	char err[512] = "";
	int r = ci_def_check(doc, "fz", UUID, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	struct ci_seed s;
	int m = ci_seed_make(sec, "fz", UUID, &s, err, sizeof(err));
	FUZZ_CHECK(m == 0 || m == -ENOMEM || m == -EINVAL);
	if (r == 0) {
		FUZZ_CHECK(m == 0);
		check_seed(sec, &s);
	} else {
		FUZZ_CHECK(err[0] != 0);
	}
	if (m == 0)
		ci_seed_free(&s);
	json_decref(doc);
	json_decref(sec);
	return 0;
}
