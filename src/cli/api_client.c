/* Talking to a running petrel's API socket from the command line (petrel migrate,
 * petrel replicate): HTTP through libcurl, loaded only here (dlopen), so petrel's own start-up
 * does not pay for it. libcurl comes with Debian's curl package (scripts/setup.sh). */
#include "cli/api_client.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* The few libcurl calls used, with their stable ABI values (curl/curl.h). */
enum { CURLOPT_URL = 10002, CURLOPT_UNIX_SOCKET_PATH = 10231, CURLOPT_CUSTOMREQUEST = 10036,
       CURLOPT_POSTFIELDS = 10015, CURLOPT_HTTPHEADER = 10023, CURLOPT_WRITEFUNCTION = 20011,
       CURLOPT_WRITEDATA = 10001, CURLINFO_RESPONSE_CODE = 0x200002 };


int api_client_load(struct curl_api *c)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "petrel: this command needs libcurl (Debian's libcurl4): %s\n", dlerror());
		return -1;
	}
	c->easy_init = (void *(*)(void))dlsym(h, "curl_easy_init");
	c->easy_setopt = (int (*)(void *, int, ...))dlsym(h, "curl_easy_setopt");
	c->easy_perform = (int (*)(void *))dlsym(h, "curl_easy_perform");
	c->easy_getinfo = (int (*)(void *, int, ...))dlsym(h, "curl_easy_getinfo");
	c->easy_cleanup = (void (*)(void *))dlsym(h, "curl_easy_cleanup");
	c->slist_append = (void *(*)(void *, const char *))dlsym(h, "curl_slist_append");
	c->slist_free_all = (void (*)(void *))dlsym(h, "curl_slist_free_all");
	c->easy_strerror = (const char *(*)(int))dlsym(h, "curl_easy_strerror");
	if (!c->easy_init || !c->easy_setopt || !c->easy_perform || !c->easy_getinfo || !c->easy_cleanup ||
	    !c->slist_append || !c->slist_free_all || !c->easy_strerror) {
		fprintf(stderr, "petrel: libcurl lacks a function petrel needs\n");
		return -1;
	}
	return 0;
}


static size_t collect(char *p, size_t size, size_t n, void *opaque)
{
	struct api_buf *b = opaque;
	size_t k = size * n;
	if (k > sizeof(b->data) - 1 - b->len)
		k = sizeof(b->data) - 1 - b->len;
	memcpy(b->data + b->len, p, k);
	b->len += k;
	b->data[b->len] = 0;
	return size * n;
}

/* One request to the API socket: the HTTP status (or -1) and the body in out. */
long api_client_request(struct curl_api *c, const char *sock, const char *method, const char *path,
		    const char *body, struct api_buf *out)
{
	void *h = c->easy_init();
	if (!h)
		return -1;
	char url[256];
	snprintf(url, sizeof(url), "http://localhost%s", path);
	void *hdrs = c->slist_append(NULL, "Content-Type: application/json");
	out->len = 0;
	out->data[0] = 0;
	c->easy_setopt(h, CURLOPT_URL, url);
	c->easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	c->easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	c->easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	c->easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	c->easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (body)
		c->easy_setopt(h, CURLOPT_POSTFIELDS, body);
	long code = -1;
	int r = c->easy_perform(h);
	if (r == 0)
		c->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	else
		snprintf(out->data, sizeof(out->data), "%s", c->easy_strerror(r));
	c->slist_free_all(hdrs);
	c->easy_cleanup(h);
	return code;
}

