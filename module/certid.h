/*
 * mod_s2s_partners — certificate identity (RFC 6125, RFC 6120 §13.7.1.2, XEP-0178).
 *
 * Decides whether a peer certificate identifies an XMPP server domain. It does not verify
 * the chain: Prosody/LuaSec does that against its CA store.
 *
 * The C functions here are usable without Lua (the fuzz targets call them); the Lua
 * bindings are registered by s2sp_open_certid().
 */
#ifndef S2SP_CERTID_H
#define S2SP_CERTID_H

#include <stddef.h>

#include <openssl/x509.h>

#include "lua_api.h"

/* Largest certificate input (PEM chain or DER) accepted; larger input is refused. */
#define S2SP_CERT_MAX_INPUT (256 * 1024)

/* Class name of the GC-owned box that holds an OpenSSL object for a Lua call. */
#define S2SP_OSSL_BOX_MT "s2s_partners.ossl_box"

/* How a certificate identified the domain (S2SP_ID_NONE: it does not). */
enum s2sp_id_how {
	S2SP_ID_NONE = 0,
	S2SP_ID_DNS,          /* SAN dNSName, exact             "dns-id"          */
	S2SP_ID_SRV,          /* SAN otherName SRVName           "srv-id"          */
	S2SP_ID_XMPPADDR,     /* SAN otherName XmppAddr          "xmppaddr"        */
	S2SP_ID_DNS_WILDCARD, /* SAN dNSName "*.rest"            "dns-id-wildcard" */
	S2SP_ID_CN            /* subject CN, only without SANs   "cn"              */
};

/* Name of an s2sp_id_how for Lua ("dns-id", ...); NULL for S2SP_ID_NONE. */
const char *s2sp_id_how_name(int how);

/*
 * Parse the leaf certificate from data: DER when it starts with a SEQUENCE tag and a long-form
 * length (0x30 0x81..0xff; the whole input must be one certificate), otherwise the first
 * certificate of a PEM text (text before it is skipped).
 * Returns a new X509 (caller frees) or NULL with a reason in err (OpenSSL's error queue is
 * consumed and cleared).
 */
X509 *s2sp_cert_parse(const char *data, size_t len, char *err, size_t errsz);

/*
 * Does cert identify domain (already normalised: A-labels, lower case, no trailing dot)?
 * Returns an s2sp_id_how (> 0 on a match, S2SP_ID_NONE when not), or -1 with a reason in err
 * when the certificate's names cannot be decoded.
 */
int s2sp_cert_identifies(X509 *cert, const char *domain, size_t domain_len, char *err,
			 size_t errsz);

/*
 * RFC 6125 DNS-ID comparison of a presented name with a normalised reference domain:
 * ASCII case-insensitive, one trailing dot ignored, and when allow_wildcard, "*" as the
 * complete left-most label matching exactly one label, followed by at least two labels.
 * Returns S2SP_ID_DNS, S2SP_ID_DNS_WILDCARD or S2SP_ID_NONE.
 */
int s2sp_dnsid_match(const char *presented, size_t plen, const char *domain, size_t dlen,
		     int allow_wildcard);

/* SHA-256 of the DER SubjectPublicKeyInfo. Returns 1, or 0 with a reason in err. */
int s2sp_spki_sha256(X509 *cert, unsigned char out[32], char *err, size_t errsz);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes, NUL-terminated). */
void s2sp_hex(const unsigned char *in, size_t len, char *out);

/* Move the oldest OpenSSL error (or fallback when none) into buf; clear the queue. */
void s2sp_ossl_reason(char *buf, size_t bufsz, const char *fallback);

/*
 * Lua side: parse the certificate string (PEM or DER) at stack index arg, or take the X509 of
 * a LuaSec certificate object there, into a GC-owned box pushed on the stack and marked
 * to-be-closed (freed when the calling C function returns or raises).
 * Returns the certificate; or NULL after pushing nil and a reason (return 2 from the caller).
 */
X509 *s2sp_push_cert(lua_State *L, int arg);

/* Raise Lua's argument error unless the value at arg is a string or a LuaSec certificate. */
void s2sp_check_cert_arg(lua_State *L, int arg);

#endif
