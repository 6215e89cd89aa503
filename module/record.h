/*
 * mod_s2s_partners — values of partner record fields that are more than a type check:
 * partner type, `connect` (host[:port]) and `pin` (SHA-256 SPKI fingerprints).
 *
 * Pure C, no Lua: usable from fuzz targets and from the policy compiler.
 */
#ifndef S2SP_RECORD_H
#define S2SP_RECORD_H

#include "idna.h"

#include <stdbool.h>
#include <stddef.h>

enum s2sp_partner_type {
	S2SP_FEDERATED = 0,
	S2SP_PUBLIC_VERIFIED,
	S2SP_PUBLIC_UNVERIFIED,
	S2SP_PARTNER_TYPE_COUNT
};

/* "federated" / "public_verified" / "public_unverified"; NULL when out of range. */
const char *s2sp_partner_type_name(enum s2sp_partner_type t);

/* Whether auto_approve may be (and by default is) on for this type: README "Partner types". */
bool s2sp_partner_type_auto_approve(enum s2sp_partner_type t);

#define S2SP_PIN_HEXLEN 64 /* SHA-256 as hex digits */

/*
 * Parse a SHA-256 fingerprint written as 64 hex digits, or as 32 colon-separated pairs
 * ("AB:CD:…"), either case. Writes the lower-case hex digits and a NUL to
 * out[0..S2SP_PIN_HEXLEN]. Returns 0, or -1 when in[0..len) is not such a fingerprint.
 */
int s2sp_parse_pin(const char *in, size_t len, char out[S2SP_PIN_HEXLEN + 1]);

enum s2sp_host_kind {
	S2SP_HOST_NAME = 0,
	S2SP_HOST_IPV4,
	S2SP_HOST_IPV6
};

#define S2SP_CONNECT_TEXTSZ (S2SP_DOMAIN_BUFSZ + sizeof "[]:65535")

struct s2sp_connect {
	enum s2sp_host_kind kind;
	char host[S2SP_DOMAIN_BUFSZ];   /* normalised name, or address without brackets */
	unsigned port;                  /* 1..65535, or 0 when not given */
	char text[S2SP_CONNECT_TEXTSZ]; /* canonical "host", "host:port", "[v6]" or "[v6]:port" */
};

/*
 * Parse `connect`: "host" or "host:port", where host is a domain name (normalised like a
 * partner domain), a dotted-quad IPv4 address or a bracketed IPv6 address, and port is
 * 1..65535. Returns 0, or -1 with a reason in err[0..errsz) (S2SP_ERRBUFSZ suffices).
 */
int s2sp_parse_connect(const char *in, size_t len, struct s2sp_connect *out, char *err,
		       size_t errsz);

#endif
