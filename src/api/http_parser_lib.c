#include "api/http_parser_lib.h"
#include "boot/payload_lib.h"

struct http_parser_lib hp;

int http_parser_lib_load(char *err, size_t errlen)
{
	/* the first symbol is set last (payload_lib_load): set means all are */
	const struct payload_sym syms[] = {
		{ "http_parser_init", (void **)&hp.init },
		{ "http_parser_execute", (void **)&hp.execute },
		{ "http_should_keep_alive", (void **)&hp.should_keep_alive },
		{ "http_method_str", (void **)&hp.method_str },
		{ "http_errno_description", (void **)&hp.errno_description },
		{ "http_parser_pause", (void **)&hp.pause },
	};
	return payload_lib_load("libhttp_parser.so.2.9", syms, sizeof(syms) / sizeof(syms[0]), err,
				errlen);
}
