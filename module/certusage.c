/*
 * mod_s2s_partners — certificate key usage, for the live probe (README "Probe").
 *
 * partners.cert_usage(cert) -> { key_usage = { name... } | nil, ext_key_usage = { name... } | nil,
 *                               server_auth = boolean, client_auth = boolean } | nil, reason
 *
 * `cert` is a PEM text (leaf first) or the DER leaf, as for partners.cert_identity.
 * key_usage / ext_key_usage are nil when the certificate has no such extension, which allows
 * every use (RFC 5280 §4.2.1.3, §4.2.1.12). server_auth / client_auth: whether the extended key
 * usage permits TLS server / client authentication (id-kp-serverAuth / id-kp-clientAuth, or no
 * extended key usage at all). A server whose certificate lacks clientAuth can still serve TLS,
 * but peers that check the purpose of the certificate it presents when it connects to them
 * refuse SASL EXTERNAL (XEP-0178 §3).
 */
#include <stdint.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certid.h"

struct usage_name {
	uint32_t flag;
	const char *name;
};

/* RFC 5280 §4.2.1.3 names, in bit order. */
static const struct usage_name key_usages[] = {
	{ KU_DIGITAL_SIGNATURE, "digitalSignature" },
	{ KU_NON_REPUDIATION,   "nonRepudiation"   },
	{ KU_KEY_ENCIPHERMENT,  "keyEncipherment"  },
	{ KU_DATA_ENCIPHERMENT, "dataEncipherment" },
	{ KU_KEY_AGREEMENT,     "keyAgreement"     },
	{ KU_KEY_CERT_SIGN,     "keyCertSign"      },
	{ KU_CRL_SIGN,          "cRLSign"          },
	{ KU_ENCIPHER_ONLY,     "encipherOnly"     },
	{ KU_DECIPHER_ONLY,     "decipherOnly"     },
};

/* RFC 5280 §4.2.1.12 key purposes OpenSSL decodes. */
static const struct usage_name ext_key_usages[] = {
	{ XKU_SSL_SERVER, "serverAuth"      },
	{ XKU_SSL_CLIENT, "clientAuth"      },
	{ XKU_CODE_SIGN,  "codeSigning"     },
	{ XKU_SMIME,      "emailProtection" },
	{ XKU_TIMESTAMP,  "timeStamping"    },
	{ XKU_OCSP_SIGN,  "OCSPSigning"     },
	{ XKU_ANYEKU,     "anyExtendedKeyUsage" },
};

/* Push the names of the flags set in `bits` as a list. */
static void push_names(lua_State *L, uint32_t bits, const struct usage_name *names, size_t n)
{
	lua_Integer i = 0;

	lua_createtable(L, (int)n, 0);
	for (size_t k = 0; k < n; k++) {
		if (bits & names[k].flag) {
			lua_pushstring(L, names[k].name);
			lua_seti(L, -2, ++i);
		}
	}
}

static int l_cert_usage(lua_State *L)
{
	X509 *cert = s2sp_push_cert(L, 1);
	uint32_t ku, xku, flags;

	if (cert == NULL)
		return 2;
	/* Decodes and caches the extensions; EXFLAG_INVALID marks one that could not be decoded. */
	X509_check_purpose(cert, -1, 0);
	flags = X509_get_extension_flags(cert);
	ERR_clear_error();
	if (flags & EXFLAG_INVALID) {
		lua_pushnil(L);
		lua_pushliteral(L, "cannot decode the certificate's extensions");
		return 2;
	}
	ku = X509_get_key_usage(cert);
	xku = X509_get_extended_key_usage(cert);

	lua_createtable(L, 0, 4);
	if (flags & EXFLAG_KUSAGE) {
		push_names(L, ku, key_usages, sizeof key_usages / sizeof key_usages[0]);
		lua_setfield(L, -2, "key_usage");
	}
	if (flags & EXFLAG_XKUSAGE) {
		push_names(L, xku, ext_key_usages, sizeof ext_key_usages / sizeof ext_key_usages[0]);
		lua_setfield(L, -2, "ext_key_usage");
	}
	lua_pushboolean(L, !(flags & EXFLAG_XKUSAGE) || (xku & (XKU_SSL_SERVER | XKU_ANYEKU)) != 0);
	lua_setfield(L, -2, "server_auth");
	lua_pushboolean(L, !(flags & EXFLAG_XKUSAGE) || (xku & (XKU_SSL_CLIENT | XKU_ANYEKU)) != 0);
	lua_setfield(L, -2, "client_auth");
	return 1;
}

static const luaL_Reg certusage_funcs[] = {
	{ "cert_usage", l_cert_usage },
	{ NULL,         NULL         }
};

/* Add cert_usage to the module table on top of the stack. */
void s2sp_open_certusage(lua_State *L)
{
	luaL_setfuncs(L, certusage_funcs, 0);
}
