#include "http/parser_lib.h"
#include "util/dlopen.h"

static struct http_parser_lib lib;

const struct http_parser_lib *http_parser_lib_load(char *err, size_t errlen)
{
	/* the first symbol is set last (dl_load_syms): set means all are */
	const struct dl_sym syms[] = {
		{ "http_parser_init", (void **)&lib.init },
		{ "http_parser_execute", (void **)&lib.execute },
		{ "http_should_keep_alive", (void **)&lib.should_keep_alive },
		{ "http_method_str", (void **)&lib.method_str },
		{ "http_errno_description", (void **)&lib.errno_description },
		{ "http_parser_pause", (void **)&lib.pause },
	};
	if (dl_load_syms("libhttp_parser.so.2.9", syms, sizeof(syms) / sizeof(syms[0]), err, errlen) < 0)
		return NULL;
	return &lib;
}
