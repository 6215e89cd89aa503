/*
 * mod_s2s_partners — the negotiation matrix of README "Negotiation matrix".
 *
 * partners.classify(tls, sasl, dialback) -> class, methods, message
 * partners.methods() -> { { name = "sasl_tls", label = "SASL EXTERNAL over TLS" }, ... }
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

/* Name and label of each method, in S2SP_METHOD_ORDER. */
static const struct {
	const char *name, *label;
} method_texts[S2SP_METHOD_COUNT] = {
	{ "sasl_tls",     "SASL EXTERNAL over TLS" },
	{ "tls_dialback", "dialback over TLS"      },
	{ "tcp_dialback", "dialback without TLS"   },
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

/* m's position in S2SP_METHOD_ORDER, or -1. */
static int method_position(enum s2sp_method m)
{
	int i;

	for (i = 0; i < S2SP_METHOD_COUNT; i++)
		if (S2SP_METHOD_ORDER[i] == m)
			return i;
	return -1;
}

const char *s2sp_method_name(enum s2sp_method m)
{
	int i = method_position(m);

	return i < 0 ? NULL : method_texts[i].name;
}

int s2sp_method_parse(const char *s, size_t len, enum s2sp_method *out)
{
	int i;

	for (i = 0; i < S2SP_METHOD_COUNT; i++) {
		const char *name = method_texts[i].name;

		if (strlen(name) == len && memcmp(name, s, len) == 0) {
			*out = S2SP_METHOD_ORDER[i];
			return 0;
		}
	}
	return -1;
}

enum s2sp_refusal s2sp_refusal(enum s2sp_negotiation tls, enum s2sp_negotiation sasl,
			       bool dialback, enum s2sp_method m)
{
	if (s2sp_classify(tls, sasl, dialback).methods & (unsigned)m)
		return S2SP_ALLOWED;
	/* The rules of s2sp_classify, in the order a refusal names them when m fails several:
	 * SASL EXTERNAL needs SASL, then TLS, not refused; dialback over TLS needs dialback, then
	 * not both TLS and SASL required, then TLS not refused; dialback without TLS needs TLS not
	 * required, then dialback. */
	switch (m) {
	case S2SP_METHOD_SASL_TLS:
		return sasl == S2SP_NOT_SUPPORTED ? S2SP_REFUSAL_NO_SASL : S2SP_REFUSAL_NO_TLS;
	case S2SP_METHOD_TLS_DIALBACK:
		if (!dialback)
			return S2SP_REFUSAL_NO_DIALBACK;
		return tls == S2SP_REQUIRED ? S2SP_REFUSAL_BOTH_REQUIRED : S2SP_REFUSAL_NO_TLS;
	case S2SP_METHOD_TCP_DIALBACK:
		return tls == S2SP_REQUIRED ? S2SP_REFUSAL_TLS_REQUIRED : S2SP_REFUSAL_NO_DIALBACK;
	}
	return S2SP_REFUSAL_NO_DIALBACK; /* not a method: unreachable for in-range arguments */
}

/* partners.methods() -> { { name, label }, ... } (fresh, S2SP_METHOD_ORDER) */
static int l_methods(lua_State *L)
{
	int i;

	lua_createtable(L, S2SP_METHOD_COUNT, 0);
	for (i = 0; i < S2SP_METHOD_COUNT; i++) {
		lua_createtable(L, 0, 2);
		lua_pushstring(L, method_texts[i].name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, method_texts[i].label);
		lua_setfield(L, -2, "label");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
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
		{ "methods",  l_methods  },
		{ NULL,       NULL       },
	};

	luaL_setfuncs(L, functions, 0);
}
