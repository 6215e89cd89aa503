/*
 * mod_s2s_partners — the Lua view of a compiled partner (pview.h).
 *
 * A partner table has the fields of README "Partner record", normalised and with their
 * defaults, plus what compile() works out: connect_host / connect_port (from connect), index
 * (listed partners), class, methods and message (the negotiation matrix row) and default.
 * Partners of one matrix row share one read-only methods list.
 */
#include "pview.h"
#include "matrix.h"
#include "record.h"
#include "schema.h"

#include <string.h>

#define NAME(f) (S2SP_FIELDS[f].name)

/* Registry key of the shared method lists, by method bit set. */
static const char methods_key;

static int read_only_list(lua_State *L)
{
	return luaL_error(L, "a partner's methods are read-only");
}

/*
 * Push the list of method names for a bit set. There are only 2^S2SP_METHOD_COUNT such lists:
 * every partner with the same row shares one (read-only), instead of a table each.
 */
static void push_methods(lua_State *L, unsigned methods)
{
	int i, n = 0;

	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &methods_key) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_createtable(L, 0, 1 << S2SP_METHOD_COUNT);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &methods_key);
	}
	if (lua_rawgeti(L, -1, (lua_Integer)methods) == LUA_TTABLE) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 1);
	lua_createtable(L, S2SP_METHOD_COUNT, 0);
	for (i = 0; i < S2SP_METHOD_COUNT; i++) {
		if (methods & (unsigned)S2SP_METHOD_ORDER[i]) {
			lua_pushstring(L, s2sp_method_name(S2SP_METHOD_ORDER[i]));
			lua_rawseti(L, -2, ++n);
		}
	}
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, read_only_list);
	lua_setfield(L, -2, "__newindex");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_rawseti(L, -3, (lua_Integer)methods);
	lua_remove(L, -2);
}

static void set_bool(lua_State *L, enum s2sp_field f, bool v)
{
	lua_pushboolean(L, v);
	lua_setfield(L, -2, NAME(f));
}

void s2sp_pview_build(lua_State *L, const struct s2sp_policy *p, uint32_t index)
{
	const struct s2sp_prec *r;
	const char *strings;
	struct s2sp_row row;
	uint32_t i;

	if (p->recs == NULL)
		luaL_error(L, "policy is freed");
	r = &p->recs[index];
	strings = p->strings.data;
	row = s2sp_classify((enum s2sp_negotiation)r->tls, (enum s2sp_negotiation)r->sasl,
			    (r->flags & S2SP_PREC_DIALBACK) != 0);
	luaL_checkstack(L, 8, NULL);
	/* the fields in the order compile() has always set them */
	lua_createtable(L, 0, 20);
	if (index != 0) {
		lua_pushstring(L, strings + r->domain);
		lua_setfield(L, -2, NAME(S2SP_F_DOMAIN));
	}
	lua_pushlstring(L, r->description_len != 0 ? strings + r->description : "",
			r->description_len);
	lua_setfield(L, -2, NAME(S2SP_F_DESCRIPTION));
	lua_createtable(L, (int)(r->nadds > 1000000 ? 1000000 : r->nadds), 0);
	if (r->nadds != 0) {
		const char *d = strings + r->adds;

		for (i = 1; i <= r->nadds; i++) {
			size_t len = strlen(d);

			lua_pushlstring(L, d, len);
			lua_rawseti(L, -2, (lua_Integer)i);
			d += len + 1;
		}
	}
	lua_setfield(L, -2, NAME(S2SP_F_ADDITIONAL_DOMAINS));
	lua_pushstring(L, s2sp_enum_name(S2SP_F_TYPE, r->type));
	lua_setfield(L, -2, NAME(S2SP_F_TYPE));
	lua_pushstring(L, s2sp_enum_name(S2SP_F_TLS, r->tls));
	lua_setfield(L, -2, NAME(S2SP_F_TLS));
	lua_pushstring(L, s2sp_enum_name(S2SP_F_SASL, r->sasl));
	lua_setfield(L, -2, NAME(S2SP_F_SASL));
	set_bool(L, S2SP_F_DIALBACK, (r->flags & S2SP_PREC_DIALBACK) != 0);
	if (r->flags & S2SP_PREC_HAS_LIMIT) {
		lua_pushinteger(L, (lua_Integer)r->connection_limit);
		lua_setfield(L, -2, NAME(S2SP_F_CONNECTION_LIMIT));
	}
	set_bool(L, S2SP_F_KEEPALIVE, (r->flags & S2SP_PREC_KEEPALIVE) != 0);
	if (r->flags & S2SP_PREC_HAS_CONNECT) {
		const char *text = strings + r->connect;

		lua_pushstring(L, text);
		lua_setfield(L, -2, NAME(S2SP_F_CONNECT));
		lua_pushstring(L, text + strlen(text) + 1);
		lua_setfield(L, -2, "connect_host");
		if (r->connect_port != 0) {
			lua_pushinteger(L, (lua_Integer)r->connect_port);
			lua_setfield(L, -2, "connect_port");
		}
	}
	set_bool(L, S2SP_F_AUTO_APPROVE, (r->flags & S2SP_PREC_AUTO_APPROVE) != 0);
	if (r->flags & S2SP_PREC_HAS_PIN) {
		lua_createtable(L, 0, 0);
		for (i = 0; i < r->npins; i++) {
			lua_pushlstring(L, strings + r->pins + (size_t)i * S2SP_PIN_HEXLEN,
					S2SP_PIN_HEXLEN);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_setfield(L, -2, NAME(S2SP_F_PIN));
	}
	if (index != 0) {
		lua_pushinteger(L, (lua_Integer)index);
		lua_setfield(L, -2, "index");
	}
	lua_pushstring(L, s2sp_class_name(row.cls));
	lua_setfield(L, -2, "class");
	push_methods(L, row.methods);
	lua_setfield(L, -2, "methods");
	if (row.message != NULL) {
		lua_pushstring(L, row.message);
		lua_setfield(L, -2, "message");
	}
	lua_pushboolean(L, index == 0);
	lua_setfield(L, -2, "default");
}

void s2sp_pview_get(lua_State *L, int cache, const struct s2sp_policy *p, uint32_t index)
{
	if (lua_rawgeti(L, cache, (lua_Integer)index) != LUA_TNIL)
		return;
	lua_pop(L, 1);
	s2sp_pview_build(L, p, index);
	lua_pushvalue(L, -1);
	lua_rawseti(L, cache, (lua_Integer)index);
}

void s2sp_pview_push(lua_State *L, int pol, const struct s2sp_policy *p, uint32_t index)
{
	lua_getiuservalue(L, pol, S2SP_UV_PARTNERS);
	s2sp_pview_get(L, lua_gettop(L), p, index);
}
