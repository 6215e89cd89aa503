/*
 * mod_s2s_partners — certificate identity (RFC 6125, RFC 6120 §13.7.1.2, XEP-0178).
 *
 * partners.cert_identity(cert, domain) -> true, how | false, reason | nil, reason
 * partners.cert_info(cert)             -> table | nil, reason
 * partners.cert_expired(cert [, now])  -> boolean [, reason] | nil, reason
 *
 * `cert` is a PEM text (one or more certificates, leaf first; only the leaf is used) or the
 * DER encoding of the leaf. Nothing here verifies the chain: Prosody/LuaSec does that.
 *
 * Matching rules (the choices RFC 6125 leaves open are made on the strict side):
 *  - The reference identifier is the domain normalised by the idna module (A-labels, lower
 *    case, no trailing dot). Presented DNS-IDs, SRV-IDs and CN-IDs are compared with it as
 *    ASCII, case-insensitively, ignoring one trailing dot; they must be LDH labels (an
 *    IDN must be presented as A-labels, RFC 6125 §6.4.2).
 *  - DNS-ID wildcards (§6.4.3): "*" only as the complete left-most label; it matches exactly
 *    one label; at least two labels must follow it ("*.com" and a bare "*" never match; the
 *    public-suffix list is not consulted, so "*.co.uk" is accepted as the CA issued it).
 *    Partial wildcards ("f*.example.com", "*oo.example.com") never match, nor does a "*" in
 *    any other label. A complete-label "*" may match a left-most label that is an A-label:
 *    §6.4.3 only forbids a wildcard embedded *within* an A-label or U-label, which the
 *    complete-label rule already excludes.
 *  - SRV-ID (RFC 4985, otherName 1.3.6.1.5.5.7.8.7, IA5String): "_xmpp-server." followed by
 *    the domain, exact (no wildcards: RFC 4985 defines none).
 *  - XmppAddr (RFC 6120 §13.7.1.4, otherName 1.3.6.1.5.5.7.8.5, UTF8String): a bare domain,
 *    normalised by the idna module and compared exactly; one with a local part ('@') or a
 *    resource ('/') does not identify a server. No wildcards.
 *  - CN-ID fallback (§6.4.4): only when the subjectAltName holds no DNS-ID, SRV-ID, XmppAddr
 *    or URI-ID (all of which are identifier types an XMPP client understands), and only when
 *    the subject has exactly one CN; compared like a DNS-ID (wildcard rules included).
 *  - A certificate whose subjectAltName cannot be decoded, or that has two subjectAltName
 *    extensions, is refused as unparsable (nil, reason), never matched by CN.
 *  - When several identifiers match, the strongest is reported:
 *    dns-id > srv-id > xmppaddr > dns-id-wildcard.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certid.h"
#include "idna.h"

#define SRV_PREFIX     "_xmpp-server."
#define SRV_PREFIX_LEN (sizeof SRV_PREFIX - 1)

/* ---- helpers ---------------------------------------------------------------------- */

static const char hexdigits[] = "0123456789abcdef";

void s2sp_hex(const unsigned char *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

void s2sp_ossl_reason(char *buf, size_t bufsz, const char *fallback)
{
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, buf, bufsz);
	else
		snprintf(buf, bufsz, "%s", fallback);
	ERR_clear_error();
}

static int lower_ascii(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int eq_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower_ascii((unsigned char)a[i]) != lower_ascii((unsigned char)b[i]))
			return 0;
	return 1;
}

static int is_ldh(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/* ---- parsing ---------------------------------------------------------------------- */

/* A PEM certificate is never encrypted: refuse to prompt for a passphrase. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* "invalid certificate (PEM): <OpenSSL's reason>" */
static void parse_error(char *err, size_t errsz, const char *form, const char *fallback)
{
	char reason[200];

	s2sp_ossl_reason(reason, sizeof reason, fallback);
	snprintf(err, errsz, "invalid certificate (%s): %s", form, reason);
}

X509 *s2sp_cert_parse(const char *data, size_t len, char *err, size_t errsz)
{
	X509 *cert;
	BIO *bio;

	ERR_clear_error();
	if (len == 0) {
		snprintf(err, errsz, "invalid certificate: empty input");
		return NULL;
	}
	if (len > S2SP_CERT_MAX_INPUT) {
		snprintf(err, errsz, "invalid certificate: input larger than %d bytes",
			 S2SP_CERT_MAX_INPUT);
		return NULL;
	}
	/* DER: a SEQUENCE with a long-form length (a certificate is never under 128 bytes);
	 * text, even text starting with '0', is read as PEM. */
	if (len > 1 && (unsigned char)data[0] == 0x30 && (unsigned char)data[1] > 0x80) {
		const unsigned char *p = (const unsigned char *)data;

		cert = d2i_X509(NULL, &p, (long)len);
		if (cert == NULL) {
			parse_error(err, errsz, "DER", "cannot decode");
			return NULL;
		}
		if (p != (const unsigned char *)data + len) {
			X509_free(cert);
			snprintf(err, errsz, "invalid certificate (DER): trailing data");
			return NULL;
		}
		return cert;
	}
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio == NULL) {
		s2sp_ossl_reason(err, errsz, "cannot allocate a memory BIO");
		return NULL;
	}
	cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (cert == NULL) {
		parse_error(err, errsz, "PEM", "no certificate found");
		return NULL;
	}
	ERR_clear_error();
	return cert;
}

/* ---- matching --------------------------------------------------------------------- */

int s2sp_dnsid_match(const char *p, size_t plen, const char *d, size_t dlen, int allow_wildcard)
{
	size_t label = 0, stars = 0;
	const char *rest, *dot;
	size_t rlen, drlen;

	if (plen > 0 && p[plen - 1] == '.')
		plen--;
	if (plen == 0 || plen > S2SP_DOMAIN_MAX || dlen == 0 || dlen > S2SP_DOMAIN_MAX)
		return S2SP_ID_NONE;
	if (memchr(d, '*', dlen) != NULL)
		return S2SP_ID_NONE;
	for (size_t i = 0; i < plen; i++) {
		int c = (unsigned char)p[i];

		if (c == '.') {
			if (label == 0)
				return S2SP_ID_NONE; /* empty label */
			label = 0;
			continue;
		}
		if (c == '*')
			stars++;
		else if (!is_ldh(c))
			return S2SP_ID_NONE;
		if (++label > S2SP_LABEL_MAX)
			return S2SP_ID_NONE;
	}
	if (label == 0)
		return S2SP_ID_NONE;

	if (stars == 0)
		return (plen == dlen && eq_nocase(p, d, plen)) ? S2SP_ID_DNS : S2SP_ID_NONE;

	/* Wildcard: exactly "*." + at least two labels, no other '*'. */
	if (!allow_wildcard || stars != 1 || plen < 2 || p[0] != '*' || p[1] != '.')
		return S2SP_ID_NONE;
	rest = p + 2;
	rlen = plen - 2;
	if (memchr(rest, '.', rlen) == NULL)
		return S2SP_ID_NONE;
	dot = memchr(d, '.', dlen);
	if (dot == NULL || dot == d)
		return S2SP_ID_NONE;
	drlen = dlen - (size_t)(dot + 1 - d);
	return (drlen == rlen && eq_nocase(rest, dot + 1, rlen)) ? S2SP_ID_DNS_WILDCARD
								 : S2SP_ID_NONE;
}

static int srvid_match(const ASN1_TYPE *value, const char *d, size_t dlen)
{
	const char *s;
	size_t n;

	if (value == NULL || value->type != V_ASN1_IA5STRING)
		return S2SP_ID_NONE;
	s = (const char *)ASN1_STRING_get0_data(value->value.ia5string);
	n = (size_t)ASN1_STRING_length(value->value.ia5string);
	if (n <= SRV_PREFIX_LEN || !eq_nocase(s, SRV_PREFIX, SRV_PREFIX_LEN))
		return S2SP_ID_NONE;
	return s2sp_dnsid_match(s + SRV_PREFIX_LEN, n - SRV_PREFIX_LEN, d, dlen, 0) == S2SP_ID_DNS
		       ? S2SP_ID_SRV
		       : S2SP_ID_NONE;
}

static int xmppaddr_match(const ASN1_TYPE *value, const char *d, size_t dlen)
{
	char norm[S2SP_DOMAIN_BUFSZ];
	const char *s;
	size_t n;
	int nlen;

	if (value == NULL || value->type != V_ASN1_UTF8STRING)
		return S2SP_ID_NONE;
	s = (const char *)ASN1_STRING_get0_data(value->value.utf8string);
	n = (size_t)ASN1_STRING_length(value->value.utf8string);
	/* Not a bare domain (local part or resource), or junk: identifies no server. */
	if (n == 0 || memchr(s, '@', n) != NULL || memchr(s, '/', n) != NULL ||
	    memchr(s, '\0', n) != NULL)
		return S2SP_ID_NONE;
	nlen = s2sp_normalize(s, n, norm, sizeof norm, NULL, 0);
	return (nlen > 0 && (size_t)nlen == dlen && memcmp(norm, d, dlen) == 0) ? S2SP_ID_XMPPADDR
										: S2SP_ID_NONE;
}

/* CN-ID: the subject's only CN, compared like a DNS-ID. */
static int cn_match(X509 *cert, const char *d, size_t dlen)
{
	X509_NAME *subject = X509_get_subject_name(cert);
	unsigned char *utf8 = NULL;
	int idx, n, how;

	idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
	if (idx < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, idx) >= 0)
		return S2SP_ID_NONE; /* none, or more than one */
	n = ASN1_STRING_to_UTF8(&utf8,
				X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
	if (n < 0) {
		ERR_clear_error();
		return S2SP_ID_NONE;
	}
	how = s2sp_dnsid_match((const char *)utf8, (size_t)n, d, dlen, 1);
	OPENSSL_free(utf8);
	return how == S2SP_ID_NONE ? S2SP_ID_NONE : S2SP_ID_CN;
}

/* The certificate's subjectAltName, or NULL with *status: 0 absent, -1 unusable. */
static GENERAL_NAMES *get_san(X509 *cert, int *status, char *err, size_t errsz)
{
	int idx = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1);
	GENERAL_NAMES *gens;

	*status = 0;
	if (idx < 0)
		return NULL;
	*status = -1;
	if (X509_get_ext_by_NID(cert, NID_subject_alt_name, idx) >= 0) {
		ERR_clear_error();
		snprintf(err, errsz, "certificate has more than one subjectAltName extension");
		return NULL;
	}
	gens = X509V3_EXT_d2i(X509_get_ext(cert, idx));
	if (gens == NULL) {
		s2sp_ossl_reason(err, errsz, "cannot decode the subjectAltName extension");
		return NULL;
	}
	*status = 1;
	return gens;
}

int s2sp_cert_identifies(X509 *cert, const char *domain, size_t domain_len, char *err,
			 size_t errsz)
{
	GENERAL_NAMES *gens;
	int status, best = S2SP_ID_NONE, has_ids = 0;

	gens = get_san(cert, &status, err, errsz);
	if (status < 0)
		return -1;
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gen = sk_GENERAL_NAME_value(gens, i);
		int how = S2SP_ID_NONE;

		switch (gen->type) {
		case GEN_DNS:
			has_ids = 1;
			how = s2sp_dnsid_match(
				(const char *)ASN1_STRING_get0_data(gen->d.dNSName),
				(size_t)ASN1_STRING_length(gen->d.dNSName), domain, domain_len, 1);
			break;
		case GEN_URI:
			has_ids = 1;
			break;
		case GEN_OTHERNAME:
			switch (OBJ_obj2nid(gen->d.otherName->type_id)) {
			case NID_SRVName:
				has_ids = 1;
				how = srvid_match(gen->d.otherName->value, domain, domain_len);
				break;
			case NID_XmppAddr:
				has_ids = 1;
				how = xmppaddr_match(gen->d.otherName->value, domain, domain_len);
				break;
			default:
				break;
			}
			break;
		default:
			break;
		}
		if (how != S2SP_ID_NONE && (best == S2SP_ID_NONE || how < best))
			best = how;
	}
	GENERAL_NAMES_free(gens);
	if (best != S2SP_ID_NONE || has_ids)
		return best;
	return cn_match(cert, domain, domain_len);
}

const char *s2sp_id_how_name(int how)
{
	switch (how) {
	case S2SP_ID_DNS:
		return "dns-id";
	case S2SP_ID_SRV:
		return "srv-id";
	case S2SP_ID_XMPPADDR:
		return "xmppaddr";
	case S2SP_ID_DNS_WILDCARD:
		return "dns-id-wildcard";
	case S2SP_ID_CN:
		return "cn";
	default:
		return NULL;
	}
}

int s2sp_spki_sha256(X509 *cert, unsigned char out[32], char *err, size_t errsz)
{
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int n, ok;

	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (n <= 0) {
		s2sp_ossl_reason(err, errsz, "cannot encode the SubjectPublicKeyInfo");
		return 0;
	}
	ok = EVP_Digest(der, (size_t)n, out, &mdlen, EVP_sha256(), NULL) && mdlen == 32;
	OPENSSL_free(der);
	if (!ok)
		s2sp_ossl_reason(err, errsz, "SHA-256 failed");
	return ok;
}

/* Seconds since the epoch of an ASN1_TIME; 0 when it cannot be decoded. */
static int asn1_time_epoch(const ASN1_TIME *t, long long *out)
{
	struct tm tm;
	long long y, m, d, era, yoe, doy, doe, days;

	memset(&tm, 0, sizeof tm);
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
		ERR_clear_error();
		return 0;
	}
	/* days_from_civil (proleptic Gregorian), no timegm() needed */
	y = (long long)tm.tm_year + 1900;
	m = (long long)tm.tm_mon + 1;
	d = tm.tm_mday;
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	days = era * 146097 + doe - 719468;
	*out = days * 86400 + (long long)tm.tm_hour * 3600 + (long long)tm.tm_min * 60 +
	       tm.tm_sec;
	return 1;
}

/* ---- Lua: GC-owned box for OpenSSL objects ----------------------------------------- */

typedef struct {
	void *ptr;
	void (*release)(void *);
} ossl_box;

static ossl_box *check_box(lua_State *L, int idx)
{
	return (ossl_box *)luaL_checkudata(L, idx, S2SP_OSSL_BOX_MT);
}

/* __gc and __close: free the object once and forget it. */
static int box_destroy(lua_State *L)
{
	ossl_box *box = check_box(L, 1);

	if (box->ptr != NULL) {
		box->release(box->ptr);
		box->ptr = NULL;
	}
	return 0;
}

/* Push an empty to-be-closed box; fill it right after the object is created. */
static ossl_box *push_box(lua_State *L, void (*release)(void *))
{
	ossl_box *box = (ossl_box *)lua_newuserdatauv(L, sizeof *box, 0);

	box->ptr = NULL;
	box->release = release;
	luaL_setmetatable(L, S2SP_OSSL_BOX_MT);
	lua_toclose(L, -1);
	return box;
}

static void release_x509(void *p)
{
	X509_free((X509 *)p);
}

static void release_general_names(void *p)
{
	GENERAL_NAMES_free((GENERAL_NAMES *)p);
}

static void release_openssl_mem(void *p)
{
	OPENSSL_free(p);
}

/*
 * LuaSec's certificate object (ssl.x509, e.g. the peer certificate Prosody hands to
 * s2s-check-certificate) is a userdata with this metatable whose first member is its X509
 * pointer (struct t_x509 of LuaSec's src/x509.h, the same from 0.5 to 1.3). Taking that X509 (with
 * a reference of our own) saves parsing it again from text: OpenSSL 3 spends ~200 µs decoding a
 * certificate, most of it the public key, once for every stream authenticated (README
 * "Performance", many streams).
 */
#define LUASEC_X509_MT "SSL:Certificate"

void s2sp_check_cert_arg(lua_State *L, int arg)
{
	if (luaL_testudata(L, arg, LUASEC_X509_MT) == NULL)
		luaL_checkstring(L, arg);
}

X509 *s2sp_push_cert(lua_State *L, int arg)
{
	size_t len;
	const char *data;
	ossl_box *box;
	char err[256];
	void *ud = luaL_testudata(L, arg, LUASEC_X509_MT);

	if (ud != NULL) {
		X509 *cert = *(X509 **)ud;

		box = push_box(L, release_x509); /* before the reference: push_box may raise */
		if (cert == NULL || !X509_up_ref(cert)) {
			lua_pushnil(L);
			lua_pushstring(L, "invalid certificate: released LuaSec certificate object");
			return NULL;
		}
		box->ptr = cert;
		return cert;
	}
	data = luaL_checklstring(L, arg, &len);
	box = push_box(L, release_x509);
	box->ptr = s2sp_cert_parse(data, len, err, sizeof err);
	if (box->ptr == NULL) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return NULL;
	}
	return (X509 *)box->ptr;
}

/* ---- Lua API ---------------------------------------------------------------------- */

/*
 * partners.cert_identity(cert, domain) -> true, how | false, reason | nil, reason
 * how: "dns-id" | "dns-id-wildcard" | "srv-id" | "xmppaddr" | "cn". false: the certificate
 * does not identify the (normalised) domain. nil: invalid domain or unparsable certificate.
 */
static int l_cert_identity(lua_State *L)
{
	size_t dlen;
	const char *domain;
	char norm[S2SP_DOMAIN_BUFSZ];
	char err[S2SP_ERRBUFSZ];
	X509 *cert;
	int nlen, how;

	s2sp_check_cert_arg(L, 1);
	domain = luaL_checklstring(L, 2, &dlen);
	nlen = s2sp_normalize(domain, dlen, norm, sizeof norm, err, sizeof err);
	if (nlen <= 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	cert = s2sp_push_cert(L, 1);
	if (cert == NULL)
		return 2;
	how = s2sp_cert_identifies(cert, norm, (size_t)nlen, err, sizeof err);
	if (how < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	if (how == S2SP_ID_NONE) {
		lua_pushboolean(L, 0);
		lua_pushfstring(L, "certificate does not identify %s", norm);
		return 2;
	}
	lua_pushboolean(L, 1);
	lua_pushstring(L, s2sp_id_how_name(how));
	return 2;
}

static void push_asn1_string(lua_State *L, const ASN1_STRING *s)
{
	lua_pushlstring(L, (const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
}

static void append(lua_State *L, int list)
{
	lua_seti(L, list, (lua_Integer)luaL_len(L, list) + 1);
}

/*
 * partners.cert_info(cert) -> table | nil, reason
 * { names = { dNSName... }, srv = { SRVName... }, xmpp = { XmppAddr... }, cn = string|nil,
 *   subject = string, issuer = string, not_before = epoch, not_after = epoch,
 *   spki_sha256 = hex } — names as presented in the certificate, for logging and admin.
 * cn is the subject's first CN (converted to UTF-8).
 */
static int l_cert_info(lua_State *L)
{
	X509 *cert;
	int status, info, idx;
	ossl_box *gbox, *cnbox;
	GENERAL_NAMES *gens;
	char err[256], line[1024];
	unsigned char spki[32];
	char hex[65];
	long long t;

	cert = s2sp_push_cert(L, 1);
	if (cert == NULL)
		return 2;
	gbox = push_box(L, release_general_names);
	gbox->ptr = gens = get_san(cert, &status, err, sizeof err);
	if (status < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	if (!s2sp_spki_sha256(cert, spki, err, sizeof err)) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}

	lua_createtable(L, 0, 9);
	info = lua_gettop(L);
	lua_newtable(L); /* names */
	lua_newtable(L); /* srv */
	lua_newtable(L); /* xmpp */
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gen = sk_GENERAL_NAME_value(gens, i);
		const ASN1_TYPE *v;

		if (gen->type == GEN_DNS) {
			push_asn1_string(L, gen->d.dNSName);
			append(L, info + 1);
		} else if (gen->type == GEN_OTHERNAME) {
			int nid = OBJ_obj2nid(gen->d.otherName->type_id);

			v = gen->d.otherName->value;
			if (nid == NID_SRVName && v != NULL && v->type == V_ASN1_IA5STRING) {
				push_asn1_string(L, v->value.ia5string);
				append(L, info + 2);
			} else if (nid == NID_XmppAddr && v != NULL &&
				   v->type == V_ASN1_UTF8STRING) {
				push_asn1_string(L, v->value.utf8string);
				append(L, info + 3);
			}
		}
	}
	lua_setfield(L, info, "xmpp");
	lua_setfield(L, info, "srv");
	lua_setfield(L, info, "names");

	idx = X509_NAME_get_index_by_NID(X509_get_subject_name(cert), NID_commonName, -1);
	if (idx >= 0) {
		X509_NAME_ENTRY *e = X509_NAME_get_entry(X509_get_subject_name(cert), idx);
		unsigned char *utf8 = NULL;
		int n;

		cnbox = push_box(L, release_openssl_mem);
		n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
		cnbox->ptr = utf8;
		if (n >= 0) {
			lua_pushlstring(L, (const char *)utf8, (size_t)n);
			lua_setfield(L, info, "cn");
		}
		ERR_clear_error();
	}

	X509_NAME_oneline(X509_get_subject_name(cert), line, (int)sizeof line);
	lua_pushstring(L, line);
	lua_setfield(L, info, "subject");
	X509_NAME_oneline(X509_get_issuer_name(cert), line, (int)sizeof line);
	lua_pushstring(L, line);
	lua_setfield(L, info, "issuer");
	if (asn1_time_epoch(X509_get0_notBefore(cert), &t)) {
		lua_pushinteger(L, (lua_Integer)t);
		lua_setfield(L, info, "not_before");
	}
	if (asn1_time_epoch(X509_get0_notAfter(cert), &t)) {
		lua_pushinteger(L, (lua_Integer)t);
		lua_setfield(L, info, "not_after");
	}
	s2sp_hex(spki, sizeof spki, hex);
	lua_pushstring(L, hex);
	lua_setfield(L, info, "spki_sha256");
	ERR_clear_error();
	lua_pushvalue(L, info);
	return 1;
}

/*
 * partners.cert_expired(cert [, now]) -> boolean [, reason] | nil, reason
 * true when now (default: the current time, seconds since the epoch) lies outside the
 * certificate's validity period — after notAfter ("certificate expired") or before
 * notBefore ("certificate not yet valid"): either way it must not be accepted.
 */
static int l_cert_expired(lua_State *L)
{
	lua_Integer now;
	long long nb, na;
	X509 *cert;

	s2sp_check_cert_arg(L, 1);
	now = luaL_optinteger(L, 2, (lua_Integer)time(NULL));
	cert = s2sp_push_cert(L, 1);
	if (cert == NULL)
		return 2;
	if (!asn1_time_epoch(X509_get0_notBefore(cert), &nb) ||
	    !asn1_time_epoch(X509_get0_notAfter(cert), &na)) {
		lua_pushnil(L);
		lua_pushliteral(L, "cannot decode the certificate's validity period");
		return 2;
	}
	if ((long long)now > na) {
		lua_pushboolean(L, 1);
		lua_pushliteral(L, "certificate expired");
		return 2;
	}
	if ((long long)now < nb) {
		lua_pushboolean(L, 1);
		lua_pushliteral(L, "certificate not yet valid");
		return 2;
	}
	lua_pushboolean(L, 0);
	return 1;
}

static const luaL_Reg box_meta[] = {
	{ "__gc",    box_destroy },
	{ "__close", box_destroy },
	{ NULL,      NULL        }
};

static const luaL_Reg certid_funcs[] = {
	{ "cert_identity", l_cert_identity },
	{ "cert_info",     l_cert_info     },
	{ "cert_expired",  l_cert_expired  },
	{ NULL,            NULL            }
};

/* Register the box metatable and add the certificate functions to the module table. */
void s2sp_open_certid(lua_State *L)
{
	if (luaL_newmetatable(L, S2SP_OSSL_BOX_MT)) {
		luaL_setfuncs(L, box_meta, 0);
		lua_pushliteral(L, "s2s_partners internal");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	luaL_setfuncs(L, certid_funcs, 0);
}
