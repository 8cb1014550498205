/* GnuTLS's functions, loaded with dlopen (util/dlopen.h) the first time TLS is used: tls.c and
 * tls_pump.c call them through `gt`. */
#ifndef PETREL_UTIL_TLS_LIB_H
#define PETREL_UTIL_TLS_LIB_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stddef.h>

struct gnutls_lib {
	__typeof__(gnutls_certificate_allocate_credentials) *cred_alloc;
	__typeof__(gnutls_certificate_free_credentials) *cred_free;
	__typeof__(gnutls_certificate_set_x509_trust_file) *trust_file;
	__typeof__(gnutls_certificate_set_x509_key_file) *key_file;
	__typeof__(gnutls_init) *init;
	__typeof__(gnutls_deinit) *deinit;
	__typeof__(gnutls_set_default_priority) *default_priority;
	__typeof__(gnutls_credentials_set) *credentials_set;
	__typeof__(gnutls_certificate_server_set_request) *server_set_request;
	__typeof__(gnutls_session_set_verify_cert) *set_verify_cert;
	__typeof__(gnutls_session_get_verify_cert_status) *verify_cert_status;
	__typeof__(gnutls_certificate_verification_status_print) *status_print;
	__typeof__(gnutls_server_name_set) *server_name_set;
	__typeof__(gnutls_transport_set_ptr) *set_ptr;
	__typeof__(gnutls_transport_set_push_function) *set_push;
	__typeof__(gnutls_transport_set_pull_function) *set_pull;
	__typeof__(gnutls_transport_set_pull_timeout_function) *set_pull_timeout;
	__typeof__(gnutls_transport_set_errno) *set_errno;
	__typeof__(gnutls_handshake) *handshake;
	__typeof__(gnutls_handshake_set_timeout) *handshake_set_timeout;
	__typeof__(gnutls_record_send) *record_send;
	__typeof__(gnutls_record_recv) *record_recv;
	__typeof__(gnutls_record_check_pending) *record_check_pending;
	__typeof__(gnutls_bye) *bye;
	__typeof__(gnutls_strerror) *strerror;
	__typeof__(gnutls_alert_get) *alert_get;
	__typeof__(gnutls_alert_get_name) *alert_get_name;
	__typeof__(gnutls_certificate_get_peers) *get_peers;
	__typeof__(gnutls_x509_crt_init) *crt_init;
	__typeof__(gnutls_x509_crt_import) *crt_import;
	__typeof__(gnutls_x509_crt_get_dn3) *crt_get_dn3;
	__typeof__(gnutls_x509_crt_deinit) *crt_deinit;
	__typeof__(gnutls_cipher_get) *cipher_get;
	__typeof__(gnutls_cipher_get_name) *cipher_get_name;
	__typeof__(gnutls_protocol_get_version) *protocol_get_version;
	__typeof__(gnutls_protocol_get_name) *protocol_get_name;
	__typeof__(gnutls_certificate_verify_peers3) *verify_peers3;
	__typeof__(gnutls_alert_send) *alert_send;
	__typeof__(gnutls_alert_send_appropriate) *alert_send_appropriate;
	__typeof__(gnutls_record_set_timeout) *record_set_timeout;
	gnutls_free_function *free;      /* the library's variable gnutls_free */
};

extern struct gnutls_lib gt;

/* Load GnuTLS (once; later calls return at once). 0, or -ENOTSUP with why in err. */
int gnutls_lib_load(char *err, size_t errlen);

#endif
