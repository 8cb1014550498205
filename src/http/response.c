/* Answers: JSON bodies and faults. See response.h. */
#include "http/response.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_response_free(struct api_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	free(resp->headers);
	resp->headers = NULL;
}

void http_printable(char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch >= 0x7f)
			*s = '?';
	}
}

void api_set_json(struct api_response *resp, unsigned status, json_t *body)
{
	resp->status = status;
	resp->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!resp->body) {
		resp->status = 500;
		resp->body = strdup("{\"fault_message\":\"out of memory\"}");
	}
}

void api_response_fault(struct api_response *resp, unsigned status, const char *fmt, ...)
{
	char msg[FAULT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_printable(msg); /* it may quote what the client sent */
	api_set_json(resp, status, json_pack("{s:s}", "fault_message", msg));
}
