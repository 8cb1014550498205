#!/bin/bash
# scripts/pki.sh DIR HOST[,ALT...]...: a certificate authority and one certificate per host for
# petreld's TLS listener and TLS migration/replication streams (docs/security.md#pki).
#
#   DIR/ca.pem, DIR/ca-key.pem       the CA (keep ca-key.pem off the hosts)
#   DIR/HOST/{ca.pem,cert.pem,key.pem}  what host HOST's --tls-dir holds
#
# Each host's certificate is both a TLS server's and a client's (a petreld connecting to another
# one authenticates with it), and names HOST plus each ALT: IP addresses become IP subject
# alternative names, anything else DNS names. A client connecting to tls:NAME:PORT checks that
# the server's certificate carries NAME. Running it again keeps an existing CA and host
# certificates and adds the missing hosts. Needs certtool (Debian's gnutls-bin).
set -euo pipefail

die() { echo "pki.sh: $*" >&2; exit 1; }
[[ $# -ge 2 ]] || die "usage: pki.sh DIR HOST[,ALTNAME|IP...]..."
command -v certtool >/dev/null || die "certtool not found: apt-get install gnutls-bin"
dir=$1
shift
mkdir -p "$dir"
umask 077
days=${PKI_DAYS:-3650}

if [[ ! -s $dir/ca.pem ]]; then
	certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$dir/ca-key.pem" 2>/dev/null
	cat >"$dir/ca.tmpl" <<-T
	cn = "petrel CA $(hostname)"
	organization = "petrel"
	serial = $(date +%s)
	expiration_days = $days
	ca
	cert_signing_key
	crl_signing_key
	T
	certtool --generate-self-signed --load-privkey "$dir/ca-key.pem" --template "$dir/ca.tmpl" \
		--outfile "$dir/ca.pem" 2>/dev/null
	rm -f "$dir/ca.tmpl"
	chmod 644 "$dir/ca.pem"
	echo "pki.sh: CA $dir/ca.pem"
fi

is_ip() { [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ || $1 == *:* ]]; }

for spec in "$@"; do
	IFS=, read -r -a names <<<"$spec"
	host=${names[0]}
	[[ $host =~ ^[A-Za-z0-9._:-]+$ ]] || die "$host: a host is letters, digits, '.', '-', ':'"
	out=$dir/$host
	if [[ -s $out/cert.pem ]]; then
		echo "pki.sh: $out exists, kept"
		continue
	fi
	mkdir -p "$out"
	certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$out/key.pem" 2>/dev/null
	{
		echo "cn = \"$host\""
		echo "organization = \"petrel\""
		echo "serial = $(date +%s%N | cut -c1-15)"
		echo "expiration_days = $days"
		for n in "${names[@]}"; do
			if is_ip "$n"; then echo "ip_address = \"$n\""; else echo "dns_name = \"$n\""; fi
		done
		echo "tls_www_server"
		echo "tls_www_client"
		echo "signing_key"
		echo "encryption_key"
	} >"$out/cert.tmpl"
	certtool --generate-certificate --load-privkey "$out/key.pem" --load-ca-certificate "$dir/ca.pem" \
		--load-ca-privkey "$dir/ca-key.pem" --template "$out/cert.tmpl" --outfile "$out/cert.pem" 2>/dev/null
	rm -f "$out/cert.tmpl"
	cp "$dir/ca.pem" "$out/ca.pem"
	chmod 644 "$out/cert.pem" "$out/ca.pem"
	chmod 600 "$out/key.pem"
	echo "pki.sh: $out/{ca.pem,cert.pem,key.pem} for ${names[*]}"
done
