/*
 * mod_s2s_partners — dialback keys (XEP-0185), as Prosody 0.12.3's mod_dialback makes them.
 *
 * partners.dialback_key(secret, to, from, stream_id)         -> hex
 * partners.dialback_verify(secret, to, from, stream_id, key) -> boolean
 *
 * Prosody (mod_dialback.lua, generate_dialback):
 *   dialback_secret = sha256(option "dialback_secret", true)        -- hex text, 64 chars
 *   key = hmac_sha256(dialback_secret, to .. " " .. from .. " " .. id, true)
 * so the HMAC key is the hex *text* of SHA-256(secret). Domains and the stream id are used
 * exactly as given (Prosody uses the ASCII names from the wire).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "dialback.h"
#include "lua_api.h"

static const char hexdigits[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/* Move the oldest OpenSSL error (or fallback) into buf and clear the queue. */
static void ossl_reason(char *buf, size_t bufsz, const char *fallback)
{
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, buf, bufsz);
	else
		snprintf(buf, bufsz, "%s", fallback);
	ERR_clear_error();
}

int s2sp_dialback_key(const char *secret, size_t secret_len, const char *to, size_t to_len,
		      const char *from, size_t from_len, const char *id, size_t id_len,
		      char out[S2SP_DIALBACK_KEY_LEN + 1], char *err, size_t errsz)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	char hexkey[2 * 32 + 1];
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t mac_len = 0;
	EVP_MAC *hmac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	int ok = 0;

	if (!EVP_Digest(secret, secret_len, digest, &digest_len, EVP_sha256(), NULL) ||
	    digest_len != 32) {
		ossl_reason(err, errsz, "SHA-256 of the dialback secret failed");
		goto done;
	}
	to_hex(digest, 32, hexkey);

	hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	if (hmac == NULL) {
		ossl_reason(err, errsz, "HMAC is not available");
		goto done;
	}
	ctx = EVP_MAC_CTX_new(hmac);
	if (ctx == NULL) {
		ossl_reason(err, errsz, "cannot allocate an HMAC context");
		goto done;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, (const unsigned char *)hexkey, 64, params) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)to, to_len) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)" ", 1) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)from, from_len) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)" ", 1) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)id, id_len) ||
	    !EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) || mac_len != 32) {
		ossl_reason(err, errsz, "HMAC-SHA256 failed");
		goto done;
	}
	to_hex(mac, 32, out);
	ok = 1;
done:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(hmac);
	OPENSSL_cleanse(digest, sizeof digest);
	OPENSSL_cleanse(hexkey, sizeof hexkey);
	return ok;
}

/* partners.dialback_key(secret, to, from, stream_id) -> hex | nil, reason */
static int l_dialback_key(lua_State *L)
{
	size_t slen, tlen, flen, ilen;
	const char *secret = luaL_checklstring(L, 1, &slen);
	const char *to = luaL_checklstring(L, 2, &tlen);
	const char *from = luaL_checklstring(L, 3, &flen);
	const char *id = luaL_checklstring(L, 4, &ilen);
	char key[S2SP_DIALBACK_KEY_LEN + 1];
	char err[256];

	luaL_argcheck(L, slen > 0, 1, "empty dialback secret");
	if (!s2sp_dialback_key(secret, slen, to, tlen, from, flen, id, ilen, key, err,
			       sizeof err)) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushlstring(L, key, S2SP_DIALBACK_KEY_LEN);
	return 1;
}

/*
 * partners.dialback_verify(secret, to, from, stream_id, key) -> boolean | nil, reason
 * Constant-time comparison (CRYPTO_memcmp) of key with the expected key; a key of the wrong
 * length is simply false. Case matters, as in Prosody (keys are lower-case hex).
 */
static int l_dialback_verify(lua_State *L)
{
	size_t slen, tlen, flen, ilen, klen;
	const char *secret = luaL_checklstring(L, 1, &slen);
	const char *to = luaL_checklstring(L, 2, &tlen);
	const char *from = luaL_checklstring(L, 3, &flen);
	const char *id = luaL_checklstring(L, 4, &ilen);
	const char *key = luaL_checklstring(L, 5, &klen);
	char expected[S2SP_DIALBACK_KEY_LEN + 1];
	char err[256];

	luaL_argcheck(L, slen > 0, 1, "empty dialback secret");
	if (!s2sp_dialback_key(secret, slen, to, tlen, from, flen, id, ilen, expected, err,
			       sizeof err)) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushboolean(L, klen == S2SP_DIALBACK_KEY_LEN &&
				   CRYPTO_memcmp(key, expected, S2SP_DIALBACK_KEY_LEN) == 0);
	OPENSSL_cleanse(expected, sizeof expected);
	return 1;
}

static const luaL_Reg dialback_funcs[] = {
	{ "dialback_key",    l_dialback_key    },
	{ "dialback_verify", l_dialback_verify },
	{ NULL,              NULL              }
};

/* Add the dialback functions to the module table on top of the stack. */
void s2sp_open_dialback(lua_State *L)
{
	luaL_setfuncs(L, dialback_funcs, 0);
}
