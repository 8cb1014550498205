/* The page's static files (--web-dir, the build of web/): GET /ui/FILE. Only names of
 * [A-Za-z0-9._-] segments, none starting with a dot (so no "..", no hidden files), are looked
 * up, and the file is opened beneath the directory without following symbolic links
 * (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): a path cannot leave the directory even if
 * the check above had a hole. Every answer carries the page's security headers (web_api.c). */
#include "manager/web/web.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STATIC_MAX_BYTES (16u << 20)

int web_static_file(const char *urlpath, char *out, size_t size)
{
	if (!*urlpath)
		urlpath = "index.html";
	size_t n = strlen(urlpath);
	if (n >= size || n > 255)
		return -EINVAL;
	bool seg_start = true;
	for (size_t i = 0; i < n; i++) {
		char ch = urlpath[i];
		if (ch == '/') {
			if (seg_start) /* an empty segment: "//" or a leading '/' */
				return -EINVAL;
			seg_start = true;
			continue;
		}
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			  ch == '_' || ch == '.';
		if (!ok || (seg_start && ch == '.'))
			return -EINVAL;
		seg_start = false;
	}
	if (seg_start) /* ends with '/' */
		return -EINVAL;
	memcpy(out, urlpath, n + 1);
	return 0;
}

static const char *type_of(const char *file)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },   { ".svg", "image/svg+xml" },
		{ ".png", "image/png" },                 { ".json", "application/json" },
		{ ".map", "application/json" },          { ".woff2", "font/woff2" },
		{ ".ico", "image/x-icon" },              { ".txt", "text/plain; charset=utf-8" },
	};
	const char *dot = strrchr(file, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

static int open_beneath(const char *dir, const char *rel)
{
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
	int e = fd < 0 ? -errno : 0;
	close(dfd);
	return e ? e : fd;
}

static enum api_result not_found(struct api_response *r)
{
	api_response_fault(r, 404, "no such file");
	return API_DONE;
}

enum api_result web_static_answer(const char *dir, const char *urlpath, struct api_response *r)
{
	char rel[256];
	if (!dir || web_static_file(urlpath, rel, sizeof(rel)) < 0)
		return not_found(r);
	int fd = open_beneath(dir, rel);
	if (fd < 0)
		return not_found(r);
	struct stat st;
	char *buf = NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_BYTES ||
	    !(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return not_found(r);
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	r->status = 200;
	r->body = buf;
	r->body_len = got; /* 0: an empty file, strlen("") */
	r->content_type = type_of(rel);
	/* The page runs only its own scripts and styles and talks only to petreld; xterm.js
	 * sets inline styles on its elements (style-src 'unsafe-inline'), never scripts. */
	r->headers = strdup("Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self' "
			    "'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
			    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
			    "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"
			    "Referrer-Policy: no-referrer\r\nCache-Control: no-cache\r\n");
	return API_DONE;
}
