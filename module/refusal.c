/*
 * mod_s2s_partners — why a partner's stream may not authenticate by a method: the texts of the
 * policy-violation stream errors in README "Negotiation results".
 *
 * partners.refusal(partner, method, domain) -> text | nil (the partner's row allows it)
 *
 * partner is a compiled partner (its tls, sasl and dialback are read); method "sasl_tls",
 * "tls_dialback" or "tcp_dialback"; domain the remote domain as the text should name it.
 */
#include "lua_api.h"
#include "matrix.h"

/* The text of each refusal: before, domain, after. */
static const struct {
	const char *before, *after;
} texts[S2SP_REFUSAL_COUNT] = {
	[S2SP_REFUSAL_TLS_REQUIRED]  = { "", " requires TLS" },
	[S2SP_REFUSAL_BOTH_REQUIRED] = { "", " requires SASL EXTERNAL: dialback will not operate if "
					     "both SASL and TLS are required" },
	[S2SP_REFUSAL_NO_DIALBACK]   = { "dialback is not allowed with ", "" },
	[S2SP_REFUSAL_NO_SASL]       = { "SASL EXTERNAL is not allowed with ", "" },
	[S2SP_REFUSAL_NO_TLS]        = { "TLS is not supported with ", "" },
};

#define NOT_A_PARTNER "expected a compiled partner (tls, sasl and dialback)"

/* The partner's negotiation setting `key`, or raise. */
static enum s2sp_negotiation check_negotiation(lua_State *L, const char *key)
{
	enum s2sp_negotiation v = S2SP_REQUIRED;
	const char *s;
	size_t len;

	if (lua_getfield(L, 1, key) != LUA_TSTRING)
		luaL_argerror(L, 1, NOT_A_PARTNER);
	s = lua_tolstring(L, -1, &len);
	if (s2sp_negotiation_parse(s, len, &v) != 0)
		luaL_argerror(L, 1, NOT_A_PARTNER);
	lua_pop(L, 1);
	return v;
}

/* partners.refusal(partner, method, domain) -> text | nil */
static int l_refusal(lua_State *L)
{
	enum s2sp_negotiation tls, sasl;
	enum s2sp_refusal why;
	enum s2sp_method m = S2SP_METHOD_SASL_TLS;
	const char *s, *domain;
	size_t len, domain_len;
	luaL_Buffer b;
	bool dialback;

	luaL_checktype(L, 1, LUA_TTABLE);
	s = luaL_checklstring(L, 2, &len);
	if (s2sp_method_parse(s, len, &m) != 0)
		return luaL_argerror(L, 2, lua_pushfstring(L, "unknown method \"%s\"", s));
	domain = luaL_checklstring(L, 3, &domain_len);
	tls = check_negotiation(L, "tls");
	sasl = check_negotiation(L, "sasl");
	if (lua_getfield(L, 1, "dialback") != LUA_TBOOLEAN)
		return luaL_argerror(L, 1, NOT_A_PARTNER);
	dialback = lua_toboolean(L, -1);
	lua_pop(L, 1);

	why = s2sp_refusal(tls, sasl, dialback, m);
	if (why == S2SP_ALLOWED) {
		lua_pushnil(L);
		return 1;
	}
	luaL_buffinit(L, &b);
	luaL_addstring(&b, texts[why].before);
	luaL_addlstring(&b, domain, domain_len);
	luaL_addstring(&b, texts[why].after);
	luaL_pushresult(&b);
	return 1;
}

void s2sp_open_refusal(lua_State *L)
{
	static const luaL_Reg functions[] = {
		{ "refusal", l_refusal },
		{ NULL,      NULL      },
	};

	luaL_setfuncs(L, functions, 0);
}
