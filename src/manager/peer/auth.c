/* Who may do what on petreld's API (peer.h, docs/manager.md#who-is-asking). */
#include "manager/mgr.h"
#include "manager/peer/peer.h"
#include "http/server.h"

#include <stdio.h>
#include <string.h>

unsigned auth_check(struct manager *m, const struct api_principal *who, const char *method, const char *path,
		    char *why, size_t whylen)
{
	(void)m;
	switch (who->kind) {
	case API_PRINCIPAL_UNIX:
		return 0;   /* the socket's permissions decided: root and the petrel group */
	case API_PRINCIPAL_TLS_CERT:
		return 0;   /* a certificate this host's CA signed: an administrator */
	case API_PRINCIPAL_TLS_ANON:
		/* The web gate (web_gate.c, called first by routes.c) let through only GET /whoami and a
		 * browser's requests with a login session (their role checked there). */
		return 0;
	}
	snprintf(why, whylen, "unknown client");
	return 403;
}

json_t *auth_principal_json(const struct api_principal *who)
{
	switch (who->kind) {
	case API_PRINCIPAL_UNIX:
		return json_pack("{s:s, s:i, s:i, s:i, s:s}", "kind", "unix", "uid", (int)who->uid, "gid", (int)who->gid,
				 "pid", (int)who->pid, "role", "admin");
	case API_PRINCIPAL_TLS_CERT:
		return json_pack("{s:s, s:s, s:s, s:s}", "kind", "tls-certificate", "subject", who->subject, "remote",
				 who->remote, "role", "admin");
	case API_PRINCIPAL_TLS_ANON:
		return json_pack("{s:s, s:s, s:n}", "kind", "tls-anonymous", "remote", who->remote, "role");
	}
	return json_null();
}
