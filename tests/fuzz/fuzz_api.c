/* libFuzzer target: the REST API without its socket (api_handle: routing, JSON parsing and
 * validation of every endpoint, the controller's state rules) on a dry-run controller.
 *
 * Input: up to 16 requests separated by NUL bytes, each "METHOD PATH\nBODY" (no "\n": no
 * body), applied in order to one fresh controller, so sequences (PUT then GET /vm/config,
 * PUT twice, ...) are explored. Every answer must be a status the API uses with a body that
 * is valid JSON: an object, with a fault_message for errors (GET /mmds: whatever JSON value
 * the store holds; a store over its limit: 413); 204 has no body. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/controller.h"
#include "api/router.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

static void check_response(const struct api_response *r, bool mmds)
{
	FUZZ_CHECK(r->status == 200 || r->status == 204 || r->status == 400 || r->status == 500 ||
		   (mmds && r->status == 413));
	if (r->status == 204) {
		FUZZ_CHECK(r->body == NULL);
		return;
	}
	FUZZ_CHECK(r->body != NULL);
	json_error_t e;
	json_t *v = json_loads(r->body, JSON_DECODE_ANY, &e);
	FUZZ_CHECK(v != NULL);
	FUZZ_CHECK(json_is_object(v) || (mmds && r->status == 200));
	if (r->status >= 400)
		FUZZ_CHECK(json_is_string(json_object_get(v, "fault_message")));
	json_decref(v);
}

static void one_request(struct controller *ctl, const char *req, size_t len)
{
	const char *nl = memchr(req, '\n', len);
	size_t line = nl ? (size_t)(nl - req) : len;
	const char *sp = memchr(req, ' ', line);
	if (!sp)
		return;
	char method[16], path[256];
	size_t mlen = (size_t)(sp - req), plen = line - mlen - 1;
	if (mlen >= sizeof(method) || plen >= sizeof(path))
		return;
	memcpy(method, req, mlen);
	method[mlen] = '\0';
	memcpy(path, sp + 1, plen);
	path[plen] = '\0';
	const char *body = nl ? nl + 1 : NULL;
	size_t blen = nl ? len - line - 1 : 0;
	/* The body in a buffer of exactly its size: reads past the end are caught. */
	uint8_t *copy = fuzz_dup((const uint8_t *)body, blen);
	struct api_response resp;
	enum api_result r = api_handle(ctl, method, path, (const char *)copy, blen, &resp, NULL, NULL);
	FUZZ_CHECK(r == API_DONE);
	check_response(&resp, !strcmp(path, "/mmds") || !strcmp(path, "/mmds/"));
	api_response_free(&resp);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct controller ctl;
	FUZZ_CHECK(ctl_init(&ctl, NULL) == 0);
	ctl.dry_run = true;
	const char *p = (const char *)data, *end = p + size;
	for (int n = 0; n < 16 && p < end; n++) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		size_t len = z ? (size_t)(z - p) : (size_t)(end - p);
		one_request(&ctl, p, len);
		p += len + 1;
	}
	/* Whatever was accepted renders as the spec's shapes. */
	json_t *cfg = ctl_vm_config(&ctl);
	FUZZ_CHECK(json_is_object(cfg));
	json_decref(cfg);
	json_t *mc = ctl_machine_config(&ctl);
	FUZZ_CHECK(json_is_object(mc));
	json_decref(mc);
	ctl_free(&ctl);
	return 0;
}
