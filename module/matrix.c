/*
 * mod_s2s_partners — the negotiation matrix of README "Negotiation matrix".
 *
 * partners.classify(tls, sasl, dialback) -> class, methods, message
 */
#include "matrix.h"
#include "lua_api.h"

#include <string.h>

#define MSG_BOTH_REQUIRED "Dialback will not operate if both SASL and TLS are required."
#define MSG_SASL_NEEDS_TLS                                                                         \
	"SASL requires TLS. Allowing TLS to be optional may result in failed session negotiations."
#define MSG_NO_TLS_NO_DIALBACK                                                                     \
	"SASL requires TLS, and TLS is not available; dialback is off and cannot be used."
#define MSG_NOTHING_ENABLED "SASL or dialback must be enabled."
#define MSG_TCP_ONLY        "TCP dialback is the only negotiation method available."

const enum s2sp_method S2SP_METHOD_ORDER[S2SP_METHOD_COUNT] = {
	S2SP_METHOD_SASL_TLS,
	S2SP_METHOD_TLS_DIALBACK,
	S2SP_METHOD_TCP_DIALBACK,
};

static const char *const negotiation_names[S2SP_NEGOTIATION_COUNT + 1] = {
	[S2SP_REQUIRED]         = "required",
	[S2SP_OPTIONAL]         = "optional",
	[S2SP_NOT_SUPPORTED]    = "not_supported",
	[S2SP_NEGOTIATION_COUNT] = NULL,
};

struct s2sp_row s2sp_classify(enum s2sp_negotiation tls, enum s2sp_negotiation sasl,
			      bool dialback)
{
	struct s2sp_row row = { 0, S2SP_VALID, NULL };
	bool both_required = tls == S2SP_REQUIRED && sasl == S2SP_REQUIRED;

	/* The three rules behind README "Negotiation matrix": SASL EXTERNAL needs TLS not refused
	 * and SASL not refused; dialback over TLS needs dialback, TLS not refused and not both TLS and
	 * SASL required; dialback over TCP needs dialback and TLS not required. */
	if (tls != S2SP_NOT_SUPPORTED && sasl != S2SP_NOT_SUPPORTED)
		row.methods |= S2SP_METHOD_SASL_TLS;
	if (dialback && tls != S2SP_NOT_SUPPORTED && !both_required)
		row.methods |= S2SP_METHOD_TLS_DIALBACK;
	if (dialback && tls != S2SP_REQUIRED)
		row.methods |= S2SP_METHOD_TCP_DIALBACK;

	if (row.methods == 0) {
		row.cls = S2SP_INVALID;
		row.message = sasl == S2SP_NOT_SUPPORTED ? MSG_NOTHING_ENABLED
							 : MSG_NO_TLS_NO_DIALBACK;
	} else if (both_required && dialback) {
		row.cls = S2SP_WARNING;
		row.message = MSG_BOTH_REQUIRED;
	} else if (tls != S2SP_REQUIRED && sasl != S2SP_NOT_SUPPORTED) {
		/* SASL EXTERNAL is wanted but TLS may be missing */
		row.cls = S2SP_WARNING;
		row.message = MSG_SASL_NEEDS_TLS;
	} else if (row.methods == S2SP_METHOD_TCP_DIALBACK) {
		row.message = MSG_TCP_ONLY;
	}
	return row;
}

const char *s2sp_negotiation_name(enum s2sp_negotiation n)
{
	if ((unsigned)n >= S2SP_NEGOTIATION_COUNT)
		return NULL;
	return negotiation_names[n];
}

int s2sp_negotiation_parse(const char *s, size_t len, enum s2sp_negotiation *out)
{
	unsigned i;

	for (i = 0; i < S2SP_NEGOTIATION_COUNT; i++) {
		if (strlen(negotiation_names[i]) == len && memcmp(negotiation_names[i], s, len) == 0) {
			*out = (enum s2sp_negotiation)i;
			return 0;
		}
	}
	return -1;
}

const char *s2sp_class_name(enum s2sp_class c)
{
	switch (c) {
	case S2SP_VALID:
		return "valid";
	case S2SP_WARNING:
		return "warning";
	case S2SP_INVALID:
		return "invalid";
	}
	return NULL;
}

const char *s2sp_method_name(enum s2sp_method m)
{
	switch (m) {
	case S2SP_METHOD_SASL_TLS:
		return "sasl_tls";
	case S2SP_METHOD_TLS_DIALBACK:
		return "tls_dialback";
	case S2SP_METHOD_TCP_DIALBACK:
		return "tcp_dialback";
	}
	return NULL;
}

/* partners.classify(tls, sasl, dialback) -> class, methods, message | nil */
static int l_classify(lua_State *L)
{
	enum s2sp_negotiation tls, sasl;
	struct s2sp_row row;
	int i, n = 0;

	tls = (enum s2sp_negotiation)luaL_checkoption(L, 1, NULL, negotiation_names);
	sasl = (enum s2sp_negotiation)luaL_checkoption(L, 2, NULL, negotiation_names);
	luaL_checktype(L, 3, LUA_TBOOLEAN);
	row = s2sp_classify(tls, sasl, lua_toboolean(L, 3));

	lua_pushstring(L, s2sp_class_name(row.cls));
	lua_createtable(L, S2SP_METHOD_COUNT, 0);
	for (i = 0; i < S2SP_METHOD_COUNT; i++) {
		if (row.methods & (unsigned)S2SP_METHOD_ORDER[i]) {
			lua_pushstring(L, s2sp_method_name(S2SP_METHOD_ORDER[i]));
			lua_rawseti(L, -2, ++n);
		}
	}
	if (row.message != NULL)
		lua_pushstring(L, row.message);
	else
		lua_pushnil(L);
	return 3;
}

void s2sp_open_matrix(lua_State *L)
{
	static const luaL_Reg functions[] = {
		{ "classify", l_classify },
		{ NULL,       NULL       },
	};

	luaL_setfuncs(L, functions, 0);
}
