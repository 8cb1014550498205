/* A tiny client of petrel's own API socket for CLI commands (api_client.c). */
#ifndef PETREL_CLI_API_CLIENT_H
#define PETREL_CLI_API_CLIENT_H

#include <stddef.h>

struct curl_api {
	void *(*easy_init)(void);
	int (*easy_setopt)(void *, int, ...);
	int (*easy_perform)(void *);
	int (*easy_getinfo)(void *, int, ...);
	void (*easy_cleanup)(void *);
	void *(*slist_append)(void *, const char *);
	void (*slist_free_all)(void *);
	const char *(*easy_strerror)(int);
};

struct api_buf {
	char data[65536];
	size_t len;
};

/* dlopen libcurl: 0, or -1 with the reason printed. */
int api_client_load(struct curl_api *c);
/* One request: the HTTP status (or -1: out has curl's reason) and the body in out. */
long api_client_request(struct curl_api *c, const char *sock, const char *method, const char *path, const char *body,
			struct api_buf *out);

#endif
