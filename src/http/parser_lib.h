/* http-parser (Debian's libhttp-parser2.9, the C parser Node.js used before llhttp, also the
 * one Debian's libgit2 uses), loaded with dlopen when an API is served, as libmicrohttpd was:
 * `petrel run` and the tools never load it. A 70 KiB library with no dependency but libc,
 * against libmicrohttpd's GnuTLS chain of nine shared objects (about 4.8 million instructions
 * at every API start; docs/performance.md#start-up). The server (server.c) keeps the table
 * http_parser_lib_load() gives it, and its connections call the parser through it. */
#ifndef PETREL_HTTP_PARSER_LIB_H
#define PETREL_HTTP_PARSER_LIB_H

#include <http_parser.h>
#include <stddef.h>

struct http_parser_lib {
	__typeof__(http_parser_init) *init;
	__typeof__(http_parser_execute) *execute;
	__typeof__(http_should_keep_alive) *should_keep_alive;
	__typeof__(http_method_str) *method_str;
	__typeof__(http_errno_description) *errno_description;
	__typeof__(http_parser_pause) *pause;
};

/* Load the library (once; later calls return at once) and give its functions, or NULL with
 * why in err. */
const struct http_parser_lib *http_parser_lib_load(char *err, size_t errlen);

#endif
