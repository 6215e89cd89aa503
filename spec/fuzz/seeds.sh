#!/bin/sh
# Regenerate the seed corpus of fuzz_certid (certificates are public data; the keys are made
# in a temporary directory and thrown away). The seeds of fuzz_normalize and fuzz_compile are
# plain text files, edited by hand.
#
#   sh spec/fuzz/seeds.sh        (from the repository root; OpenSSL 3)
set -eu

out=spec/fuzz/corpus/fuzz_certid
tmp=$(mktemp -d "${TMPDIR:-/tmp}/s2sp-seeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$out"
rm -f "$out"/*

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key.pem" 2>/dev/null

# seed NAME SUBJECT [SAN]: one certificate, stored in the four input modes of fuzz_certid
seed() {
	name=$1 subject=$2
	if [ $# -ge 3 ]; then
		openssl req -x509 -new -key "$tmp/key.pem" -subj "$subject" -days 3650 \
			-addext "subjectAltName=$3" -out "$tmp/$name.pem" 2>/dev/null
	else
		openssl req -x509 -new -key "$tmp/key.pem" -subj "$subject" -days 3650 \
			-out "$tmp/$name.pem" 2>/dev/null
	fi
	openssl x509 -in "$tmp/$name.pem" -outform DER -out "$tmp/$name.der"
	for mode in 0 1 2; do
		{ printf "\\00$mode"; cat "$tmp/$name.der"; } > "$out/$name-der-$mode"
	done
	{ printf '\000'; cat "$tmp/$name.pem"; } > "$out/$name-pem-0"
}

seed dns /CN=example.com "DNS:example.com,DNS:*.example.com"
seed xmpp /CN=b.test "otherName:1.3.6.1.5.5.7.8.5;UTF8:b.test,otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-server.b.test,URI:xmpp:b.test"
seed idn /CN=idn "DNS:xn--bcher-kva.example,otherName:1.3.6.1.5.5.7.8.5;UTF8:user@b.test"
seed cn /CN=a.example.com
seed twocn /CN=a.example.com/CN=b.test
seed ip /CN=b.test "IP:127.0.0.1,email:admin@b.test"

# mode 3: "presented\0domain" for the DNS-ID matcher
printf '\003*.example.com\000a.example.com' > "$out/dnsid-wildcard"
printf '\003EXAMPLE.COM.\000example.com' > "$out/dnsid-exact"
printf '\003f*.example.com\000foo.example.com' > "$out/dnsid-partial"
