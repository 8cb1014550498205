/* Listening Unix sockets at a path that may hold an old one. */
#ifndef PETREL_UTIL_UNIX_SOCKET_H
#define PETREL_UTIL_UNIX_SOCKET_H

#include <stdbool.h>

/* Bind and listen on path. A socket file there that nobody accepts on (connect() refused: its
 * owner is gone) is stale and replaced; a live socket (another petrel's API, a peer's
 * listener) or any other kind of file is left alone: -EADDRINUSE. nonblock: SOCK_NONBLOCK.
 * The fd, or -errno (-ENAMETOOLONG if path does not fit in sockaddr_un). */
int unix_listen(const char *path, int backlog, bool nonblock);
/* unix_listen with the socket file made with mode (0600, say; 0: the umask's), set on the
 * socket before bind (Linux gives the file the socket's mode less the umask). */
int unix_listen_mode(const char *path, int backlog, bool nonblock, unsigned mode);
/* Whether unix_listen could take path: 0 if nothing is there or a stale socket, -EADDRINUSE
 * if a live socket or another kind of file is. */
int unix_path_free(const char *path);

#endif
