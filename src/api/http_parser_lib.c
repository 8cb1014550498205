#include "api/http_parser_lib.h"
#include "util/dlopen.h"

struct http_parser_lib hp;

int http_parser_lib_load(char *err, size_t errlen)
{
	/* the first symbol is set last (dl_load_syms): set means all are */
	const struct dl_sym syms[] = {
		{ "http_parser_init", (void **)&hp.init },
		{ "http_parser_execute", (void **)&hp.execute },
		{ "http_should_keep_alive", (void **)&hp.should_keep_alive },
		{ "http_method_str", (void **)&hp.method_str },
		{ "http_errno_description", (void **)&hp.errno_description },
		{ "http_parser_pause", (void **)&hp.pause },
	};
	return dl_load_syms("libhttp_parser.so.2.9", syms, sizeof(syms) / sizeof(syms[0]), err,
				errlen);
}
