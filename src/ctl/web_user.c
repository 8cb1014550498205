/* petrelctl web-user [--users FILE] NAME admin|readonly: add a user of petreld's web page, or
 * change one's role and password, in the users file (default /etc/petreld/users). The
 * password is read from standard input (a terminal: without echo, asked twice) and stored as
 * a yescrypt hash (crypt(3), web_users.c); the file is replaced atomically, mode 0600. */
#include "ctl/ctl.h"
#include "manager/web/web.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

static int read_password(const char *prompt, char *out, size_t size)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty) {
		fprintf(stderr, "%s", prompt);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	bool ok = fgets(out, (int)size, stdin) != NULL;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	out[ok ? strcspn(out, "\r\n") : 0] = '\0';
	return ok && out[0] ? 0 : -EINVAL;
}

int cmd_web_user(int argc, char **argv)
{
	const char *file = "/etc/petreld/users";
	int i = 1;
	if (i + 1 < argc && !strcmp(argv[i], "--users")) {
		file = argv[i + 1];
		i += 2;
	}
	if (argc - i != 2 || (strcmp(argv[i + 1], "admin") && strcmp(argv[i + 1], "readonly"))) {
		fprintf(stderr, "usage: petrelctl web-user [--users FILE] NAME admin|readonly (the password on stdin)\n");
		return EXIT_USAGE;
	}
	const char *name = argv[i], *role = argv[i + 1];
	char pw[256], again[256], hash[CRYPT_OUTPUT_SIZE], line[1024], n[65], h[CRYPT_OUTPUT_SIZE];
	enum web_role r;
	if (read_password("password: ", pw, sizeof(pw)) < 0 ||
	    (isatty(STDIN_FILENO) && (read_password("again: ", again, sizeof(again)) < 0 || strcmp(pw, again)))) {
		fprintf(stderr, "petrelctl: no password, or the two differ\n");
		return EXIT_USAGE;
	}
	snprintf(line, sizeof(line), "%s:%s:$y$x", name, role);
	if (web_users_parse_line(line, n, sizeof(n), &r, h, sizeof(h)) != 1) {
		fprintf(stderr, "petrelctl: a user's name is 1 to 64 of [A-Za-z0-9._-]\n");
		return EXIT_USAGE;
	}
	if (web_users_hash(pw, hash, sizeof(hash)) < 0) {
		fprintf(stderr, "petrelctl: crypt(3) cannot make a yescrypt hash\n");
		return EXIT_REFUSED;
	}
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", file, (int)getpid());
	mode_t old = umask(077);
	FILE *out = fopen(tmp, "w");
	umask(old);
	if (!out) {
		fprintf(stderr, "petrelctl: cannot write %s: %s\n", tmp, strerror(errno));
		return EXIT_REFUSED;
	}
	FILE *in = fopen(file, "r");
	while (in && fgets(line, sizeof(line), in)) /* every other line as it was */
		if (web_users_parse_line(line, n, sizeof(n), &r, h, sizeof(h)) != 1 || strcmp(n, name))
			fputs(line, out);
	if (in)
		fclose(in);
	fprintf(out, "%s:%s:%s\n", name, role, hash);
	bool ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
	ok = fclose(out) == 0 && ok;
	if (!ok || rename(tmp, file) < 0) {
		fprintf(stderr, "petrelctl: cannot write %s: %s\n", file, strerror(errno));
		unlink(tmp);
		return EXIT_REFUSED;
	}
	fprintf(stderr, "petrelctl: %s is %s in %s\n", name, role, file);
	return 0;
}
