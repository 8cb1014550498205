/* libmicrohttpd, loaded with dlopen when an API is served (api_server_start), not linked:
 * on Debian it brings GnuTLS and eight more shared objects whose relocation and constructors
 * cost a process start about 3.7 million instructions (7 ms of CPU on this PVM host), which
 * `petrel run`, the image and snapshot tools and --no-api have no use for
 * (docs/performance.md#start-up). http.c and http_conns.c call it through `mhd`. */
#ifndef PETREL_API_MHD_LIB_H
#define PETREL_API_MHD_LIB_H

#include <microhttpd.h>
#include <stddef.h>

struct mhd_lib {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_quiesce_daemon) *quiesce_daemon;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_destroy_response) *destroy_response;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_get_connection_info) *get_connection_info;
	__typeof__(MHD_get_connection_values) *get_connection_values;
	__typeof__(MHD_lookup_connection_value) *lookup_connection_value;
	__typeof__(MHD_suspend_connection) *suspend_connection;
	__typeof__(MHD_resume_connection) *resume_connection;
};

extern struct mhd_lib mhd;

/* Load the library (once; later calls return at once). 0, or -ENOTSUP with why in err. */
int mhd_lib_load(char *err, size_t errlen);

#endif
