/*
 * mod_s2s_partners — public-key pins.
 *
 * partners.spki_sha256(cert)     -> hex | nil, reason
 * partners.pin_match(cert, pins) -> boolean | nil, reason
 *
 * `cert` is a PEM text (leaf first) or the DER leaf, as for partners.cert_identity. The pin
 * is SHA-256 over the DER SubjectPublicKeyInfo, 64 lower-case hex characters (the config
 * removes colons); it equals
 *   openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum
 */
#include <string.h>

#include <openssl/crypto.h>

#include "certid.h"
#include "pin.h"

int s2sp_pin_equal(const char *digest_hex, const char *pin, size_t pin_len)
{
	char lower[S2SP_PIN_HEX_LEN];

	if (pin_len != S2SP_PIN_HEX_LEN)
		return 0;
	for (size_t i = 0; i < S2SP_PIN_HEX_LEN; i++) {
		unsigned char c = (unsigned char)pin[i];
		/* branch-free ASCII lower-casing of 'A'..'Z' */
		unsigned char upper = (unsigned char)((unsigned)(c - 'A') < 26u);

		lower[i] = (char)(c | (unsigned char)(upper << 5));
	}
	return CRYPTO_memcmp(digest_hex, lower, S2SP_PIN_HEX_LEN) == 0;
}

/* partners.spki_sha256(cert) -> 64 lower-case hex characters | nil, reason */
static int l_spki_sha256(lua_State *L)
{
	unsigned char md[32];
	char hex[2 * sizeof md + 1];
	char err[256];
	X509 *cert = s2sp_push_cert(L, 1);

	if (cert == NULL)
		return 2;
	if (!s2sp_spki_sha256(cert, md, err, sizeof err)) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	s2sp_hex(md, sizeof md, hex);
	lua_pushlstring(L, hex, S2SP_PIN_HEX_LEN);
	return 1;
}

/*
 * partners.pin_match(cert, pins) -> boolean | nil, reason
 * pins: a list of hex SHA-256 SPKI digests. true when the certificate's key matches one.
 * Every pin is compared in full (CRYPTO_memcmp, no early exit); an empty list is false.
 */
static int l_pin_match(lua_State *L)
{
	unsigned char md[32];
	char hex[2 * sizeof md + 1];
	char err[256];
	lua_Integer n;
	int found = 0;
	X509 *cert;

	s2sp_check_cert_arg(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	n = luaL_len(L, 2);
	for (lua_Integer i = 1; i <= n; i++) {
		int t = lua_geti(L, 2, i);

		lua_pop(L, 1);
		luaL_argcheck(L, t == LUA_TSTRING, 2, "pins must be a list of hex strings");
	}
	cert = s2sp_push_cert(L, 1);
	if (cert == NULL)
		return 2;
	if (!s2sp_spki_sha256(cert, md, err, sizeof err)) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	s2sp_hex(md, sizeof md, hex);
	for (lua_Integer i = 1; i <= n; i++) {
		size_t len;
		const char *pin;

		lua_geti(L, 2, i);
		pin = lua_tolstring(L, -1, &len);
		found |= pin != NULL && s2sp_pin_equal(hex, pin, len);
		lua_pop(L, 1);
	}
	lua_pushboolean(L, found);
	return 1;
}

static const luaL_Reg pin_funcs[] = {
	{ "spki_sha256", l_spki_sha256 },
	{ "pin_match",   l_pin_match   },
	{ NULL,          NULL          }
};

/* Add the pin functions to the module table on top of the stack. */
void s2sp_open_pin(lua_State *L)
{
	luaL_setfuncs(L, pin_funcs, 0);
}
