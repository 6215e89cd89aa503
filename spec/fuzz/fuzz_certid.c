/*
 * libFuzzer target: certificate parsing and identity (module/certid.c, module/pin.c).
 *
 * The first input byte picks a mode, the rest is the payload:
 *   0  payload as given (DER when it starts with 0x30, else PEM) -> C API: parse, identity
 *      against fixed domains, SPKI digest;
 *   1  payload taken as DER and wrapped into a PEM block -> the same, through the PEM reader;
 *   2  payload through the Lua bindings (cert_identity, cert_info, cert_expired, spki_sha256,
 *      pin_match) in one long-lived Lua state, collected after every input;
 *   3  payload "presented\0domain" -> s2sp_dnsid_match against the normalised domain.
 * Invariants: no crash, every refusal has a reason, OpenSSL's error queue is left empty,
 * results are in range, and the Lua API returns the documented shapes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "fuzz_lua.h"

#include "certid.h"
#include "idna.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const domains[] = {
	"example.com", "a.example.com", "xn--bcher-kva.example", "b.test",
};
#define NDOMAINS (sizeof domains / sizeof domains[0])

static void check_cert(const char *p, size_t n)
{
	char err[256];
	unsigned char md[32];
	X509 *cert;

	err[0] = '\0';
	cert = s2sp_cert_parse(p, n, err, sizeof err);
	if (cert == NULL) {
		if (err[0] == '\0' || ERR_peek_error() != 0)
			abort();
		return;
	}
	for (size_t i = 0; i < NDOMAINS; i++) {
		int how;

		err[0] = '\0';
		how = s2sp_cert_identifies(cert, domains[i], strlen(domains[i]), err, sizeof err);
		if (how < -1 || how > S2SP_ID_CN || (how < 0 && err[0] == '\0') ||
		    (how > 0 && s2sp_id_how_name(how) == NULL))
			abort();
	}
	err[0] = '\0';
	if (!s2sp_spki_sha256(cert, md, err, sizeof err) && err[0] == '\0')
		abort();
	X509_free(cert);
	if (ERR_peek_error() != 0)
		abort();
}

/* Wrap DER bytes into a PEM CERTIFICATE block, 64 base64 characters a line. */
static void check_as_pem(const uint8_t *p, size_t n)
{
	static const char head[] = "-----BEGIN CERTIFICATE-----\n";
	static const char tail[] = "-----END CERTIFICATE-----\n";
	size_t b64len = 4 * ((n + 2) / 3);
	char *b64 = malloc(b64len + 1);
	char *pem = malloc(sizeof head + b64len + b64len / 64 + 2 + sizeof tail);
	size_t o = 0;

	if (b64 == NULL || pem == NULL)
		abort();
	EVP_EncodeBlock((unsigned char *)b64, p, (int)n);
	memcpy(pem, head, sizeof head - 1);
	o = sizeof head - 1;
	for (size_t i = 0; i < b64len; i += 64) {
		size_t k = b64len - i < 64 ? b64len - i : 64;

		memcpy(pem + o, b64 + i, k);
		o += k;
		pem[o++] = '\n';
	}
	memcpy(pem + o, tail, sizeof tail - 1);
	o += sizeof tail - 1;
	check_cert(pem, o);
	free(pem);
	free(b64);
}

/* Call partners.<fn> with the given number of arguments on the stack; results stay. */
static int call(lua_State *L, const char *fn, int nargs)
{
	int base = lua_gettop(L) - nargs;

	lua_getglobal(L, "partners");
	lua_getfield(L, -1, fn);
	lua_remove(L, -2);
	lua_insert(L, base + 1);
	if (lua_pcall(L, nargs, LUA_MULTRET, 0) != LUA_OK)
		abort(); /* valid argument types: must never raise */
	return lua_gettop(L) - base;
}

/* nil, "reason" — the runtime failure shape. */
static void check_failure(lua_State *L, int first)
{
	if (!lua_isnil(L, first) || lua_type(L, first + 1) != LUA_TSTRING)
		abort();
}

static void check_lua(const char *p, size_t n)
{
	lua_State *L = lua_state();
	int nres;

	for (size_t i = 0; i < NDOMAINS; i++) {
		lua_settop(L, 0);
		lua_pushlstring(L, p, n);
		lua_pushstring(L, domains[i]);
		nres = call(L, "cert_identity", 2);
		if (nres != 2 || lua_type(L, 2) != LUA_TSTRING)
			abort();
		if (lua_isboolean(L, 1) && lua_toboolean(L, 1)) {
			const char *how = lua_tostring(L, 2);

			if (strcmp(how, "dns-id") && strcmp(how, "dns-id-wildcard") &&
			    strcmp(how, "srv-id") && strcmp(how, "xmppaddr") && strcmp(how, "cn"))
				abort();
		} else if (!lua_isboolean(L, 1) && !lua_isnil(L, 1)) {
			abort();
		}
	}

	lua_settop(L, 0);
	lua_pushlstring(L, p, n);
	nres = call(L, "cert_info", 1);
	if (nres == 1) {
		if (!lua_istable(L, 1) || lua_getfield(L, 1, "names") != LUA_TTABLE ||
		    lua_getfield(L, 1, "spki_sha256") != LUA_TSTRING || lua_rawlen(L, -1) != 64)
			abort();
	} else {
		check_failure(L, 1);
	}

	lua_settop(L, 0);
	lua_pushlstring(L, p, n);
	lua_pushinteger(L, 1700000000);
	nres = call(L, "cert_expired", 2);
	if (!lua_isboolean(L, 1))
		check_failure(L, 1);

	lua_settop(L, 0);
	lua_pushlstring(L, p, n);
	nres = call(L, "spki_sha256", 1);
	if (nres == 1 && (lua_type(L, 1) != LUA_TSTRING || lua_rawlen(L, 1) != 64))
		abort();
	if (nres != 1)
		check_failure(L, 1);

	lua_settop(L, 0);
	lua_pushlstring(L, p, n);
	lua_createtable(L, 2, 0);
	lua_pushstring(L, "0000000000000000000000000000000000000000000000000000000000000000");
	lua_rawseti(L, -2, 1);
	lua_pushlstring(L, p, n < 64 ? n : 64);
	lua_rawseti(L, -2, 2);
	nres = call(L, "pin_match", 2);
	if (!lua_isboolean(L, 1))
		check_failure(L, 1);

	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT);
	if (ERR_peek_error() != 0)
		abort();
}

static void check_dnsid(const char *p, size_t n)
{
	const char *nul = memchr(p, '\0', n);
	char norm[S2SP_DOMAIN_BUFSZ], err[S2SP_ERRBUFSZ];
	size_t plen;
	int dlen, a, b;

	if (nul == NULL)
		return;
	plen = (size_t)(nul - p);
	dlen = s2sp_normalize(nul + 1, n - plen - 1, norm, sizeof norm, err, sizeof err);
	if (dlen <= 0)
		return;
	a = s2sp_dnsid_match(p, plen, norm, (size_t)dlen, 1);
	b = s2sp_dnsid_match(p, plen, norm, (size_t)dlen, 0);
	if (b == S2SP_ID_DNS_WILDCARD || (b != S2SP_ID_NONE && a != b))
		abort();
	if (a == S2SP_ID_DNS_WILDCARD && (plen < 2 || p[0] != '*' || p[1] != '.'))
		abort();
	if (a == S2SP_ID_DNS && memchr(p, '*', plen) != NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	size_t n;

	if (size == 0)
		return 0;
	n = size - 1;
	switch (data[0] & 3) {
	case 0:
		check_cert(p, n);
		break;
	case 1:
		check_as_pem(data + 1, n);
		break;
	case 2:
		check_lua(p, n);
		break;
	default:
		check_dnsid(p, n);
		break;
	}
	return 0;
}
