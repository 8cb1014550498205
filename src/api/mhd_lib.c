#include "api/mhd_lib.h"
#include "boot/payload_lib.h"

struct mhd_lib mhd;

int mhd_lib_load(char *err, size_t errlen)
{
	/* the first symbol is set last (payload_lib_load): set means all are */
	const struct payload_sym syms[] = {
		{ "MHD_start_daemon", (void **)&mhd.start_daemon },
		{ "MHD_stop_daemon", (void **)&mhd.stop_daemon },
		{ "MHD_quiesce_daemon", (void **)&mhd.quiesce_daemon },
		{ "MHD_create_response_from_buffer", (void **)&mhd.create_response_from_buffer },
		{ "MHD_add_response_header", (void **)&mhd.add_response_header },
		{ "MHD_destroy_response", (void **)&mhd.destroy_response },
		{ "MHD_queue_response", (void **)&mhd.queue_response },
		{ "MHD_get_connection_info", (void **)&mhd.get_connection_info },
		{ "MHD_get_connection_values", (void **)&mhd.get_connection_values },
		{ "MHD_lookup_connection_value", (void **)&mhd.lookup_connection_value },
		{ "MHD_suspend_connection", (void **)&mhd.suspend_connection },
		{ "MHD_resume_connection", (void **)&mhd.resume_connection },
	};
	return payload_lib_load("libmicrohttpd.so.12", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
}
