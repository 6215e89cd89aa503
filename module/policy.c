/*
 * mod_s2s_partners — compiled partner policy.
 *
 * partners.compile(list [, default]) -> policy, warnings | nil, err, detail
 * policy:lookup(domain)  -> partner | nil
 * policy:resolve(domain) -> partner | nil
 * policy:partners()      -> { partner, ... }
 * policy:default()       -> partner | nil
 * policy:types()         -> { [type] = true, ... } (partners and default partner)
 * policy:count_where(field, value) -> how many listed partners have tls/sasl/dialback == value
 *
 * compile() validates every record (validate.c) into a compact C record (prec.h: enums, flags
 * and offsets into one string arena) and indexes the normalised domains in an open-addressing
 * table (ptable.c). No Lua table is built per partner at compile time: a partner's table is
 * built on first use (lookup, resolve, partners; pview.c) and kept in uservalue 1 (a list by
 * partner index), so every later call returns the same table. The default partner's table is
 * built by compile() itself, in uservalue 2. policy:types() and count_where() answer from
 * counts made at compile time. Records, strings and domain table are owned by the policy
 * userdata and freed from __gc, so a validation error thrown half-way through leaks nothing;
 * __close frees only the domain table (lookups then raise; partners() and default() answer).
 *
 * A refusal's detail says where it is: { index = N (the record's position; 0 for the default
 * partner; absent for the list itself), field = "tls" (absent when not about one field), message
 * = the reason without the "partner N (domain): " prefix, hole = N (the list's first missing
 * entry, for "a table with holes"), owner = N (the partner that already has a domain claimed
 * again) }.
 */
#include "policy.h"
#include "idna.h"
#include "lua_api.h"
#include "pview.h"
#include "validate.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Raise the compile error "[<prefix>: ]<reason>" about the list; lua_pushfstring's format. */
static int raise_error(lua_State *L, const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	s2sp_push_compile_error(L, prefix, NULL, NULL);
	return lua_error(L);
}

#define LIST_PREFIX  "partners"
#define LIST_PROBLEM "expected a list of partner records, got %s"

#define SAMPLE 1024 /* records count_domains() looks at */

/*
 * About how many domains the n records of the list at index 1 name, as can be told before
 * validating them, from at most SAMPLE records spread over the list: so that the domain table
 * is sized once (each doubling rehashes it all). A hint: more domains than that only cost a
 * rehash. At most 8 per record on average, so that a bogus list does not reserve much.
 */
static size_t count_domains(lua_State *L, lua_Integer n)
{
	lua_Integer i, step = n > SAMPLE ? n / SAMPLE : 1, seen = 0;
	size_t adds = 0;

	lua_pushliteral(L, "additional_domains");
	for (i = 1; i <= n; i += step) {
		seen++;
		if (lua_rawgeti(L, 1, i) == LUA_TTABLE) {
			lua_pushvalue(L, -2);
			if (lua_rawget(L, -2) == LUA_TTABLE) {
				size_t len = (size_t)lua_rawlen(L, -1);

				adds += len < 8 ? len : 8;
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	if (seen == 0)
		return 0;
	return (size_t)n + (size_t)((double)adds / (double)seen * (double)n);
}

/* The body of compile(), run under lua_pcall: raises on any refusal. */
static int compile_protected(lua_State *L)
{
	struct s2sp_policy *p;
	const char *problem;
	lua_Integer i, n = 0, hole = 0;
	int pol, warnings, base;

	luaL_checkstack(L, 60, NULL);
	lua_settop(L, 2);
	if (!lua_istable(L, 1))
		raise_error(L, LIST_PREFIX, LIST_PROBLEM, luaL_typename(L, 1));
	problem = s2sp_list_problem(L, 1, &n, &hole);
	if (problem != NULL) {
		lua_pushfstring(L, LIST_PROBLEM, problem);
		s2sp_push_compile_error(L, LIST_PREFIX, NULL, NULL);
		if (hole != 0) {
			lua_pushinteger(L, hole);
			lua_setfield(L, -2, "hole");
		}
		return lua_error(L);
	}
	if (n >= INT32_MAX)
		raise_error(L, LIST_PREFIX, "too many partner records");

	/* the userdata first: from here on, what it owns is freed by __gc whatever happens */
	p = lua_newuserdatauv(L, sizeof *p, 2);
	memset(p, 0, sizeof *p);
	s2sp_ptable_init(&p->domains);
	luaL_setmetatable(L, S2SP_POLICY_MT);
	pol = lua_gettop(L);
	p->recs = calloc((size_t)n + 1, sizeof *p->recs);
	if (p->recs == NULL || s2sp_ptable_reserve(&p->domains, count_domains(L, n)) != 0)
		raise_error(L, NULL, "not enough memory");
	lua_newtable(L);
	warnings = lua_gettop(L);
	base = lua_gettop(L);

	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, 1, i);
		s2sp_compile_record(L, p, i, base + 1, 1, warnings);
		lua_settop(L, base);
	}
	p->npartners = (uint32_t)n;
	/* the partners' tables, built on first use (pview.c) */
	lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
	lua_setiuservalue(L, pol, S2SP_UV_PARTNERS);
	if (!lua_isnil(L, 2)) {
		s2sp_compile_record(L, p, 0, 2, 1, warnings);
		s2sp_pview_build(L, p, 0);
		lua_setiuservalue(L, pol, S2SP_UV_DEFAULT);
		p->has_default = true;
	}
	lua_pushvalue(L, pol);
	lua_pushvalue(L, warnings);
	return 2;
}

/* partners.compile(list [, default]) -> policy, warnings | nil, err, detail */
static int l_compile(lua_State *L)
{
	int status;

	lua_settop(L, 2);
	lua_pushcfunction(L, compile_protected);
	lua_insert(L, 1);
	status = lua_pcall(L, 2, 2, 0);
	if (status == LUA_OK)
		return 2;
	if (status != LUA_ERRRUN)
		return lua_error(L); /* out of memory and the like: not a verdict on the config */
	if (lua_type(L, -1) == LUA_TSTRING) /* raised by the Lua API itself: no detail */
		s2sp_push_compile_error(L, NULL, NULL, NULL);
	if (!lua_istable(L, -1))
		return lua_error(L);
	if (lua_getfield(L, -1, "text") != LUA_TSTRING) {
		lua_pop(L, 1);
		return lua_error(L);
	}
	lua_pushnil(L);
	lua_setfield(L, -3, "text"); /* the detail keeps the rest */
	lua_insert(L, -2);
	lua_pushnil(L);
	lua_insert(L, -3); /* nil, text, detail */
	return 3;
}

uint32_t s2sp_policy_find(const struct s2sp_policy *p, const char *domain, size_t len)
{
	char name[S2SP_DOMAIN_BUFSZ];
	int n;

	if (s2sp_domain_fast_path(domain, len))
		return s2sp_ptable_get(&p->domains, domain, len);
	n = s2sp_normalize(domain, len, name, sizeof name, NULL, 0);
	if (n < 0)
		return 0;
	return s2sp_ptable_get(&p->domains, name, (size_t)n);
}

static struct s2sp_policy *check_policy(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, S2SP_POLICY_MT);
}

static struct s2sp_policy *check_open_policy(lua_State *L, int idx)
{
	struct s2sp_policy *p = check_policy(L, idx);

	luaL_argcheck(L, !p->closed, idx, "policy is closed");
	return p;
}

/* Push the partner owning the string at index 2 (on top, the cache of partner tables below it:
 * see s2sp_pview_push), or nothing; returns whether it did. */
static int push_lookup(lua_State *L, const struct s2sp_policy *p)
{
	const char *domain;
	size_t len;
	uint32_t index;

	luaL_checktype(L, 2, LUA_TSTRING);
	domain = lua_tolstring(L, 2, &len);
	index = s2sp_policy_find(p, domain, len);
	if (index == 0)
		return 0;
	s2sp_pview_push(L, 1, p, index);
	return 1;
}

/* policy:lookup(domain) -> partner | nil */
static int l_lookup(lua_State *L)
{
	if (push_lookup(L, check_open_policy(L, 1)) == 0)
		lua_pushnil(L);
	return 1;
}

/* policy:resolve(domain) -> partner | nil */
static int l_resolve(lua_State *L)
{
	if (push_lookup(L, check_open_policy(L, 1)) == 0)
		lua_getiuservalue(L, 1, S2SP_UV_DEFAULT);
	return 1;
}

/* policy:partners() -> { partner, ... } (a fresh list, config order; builds every partner's
 * table not built yet) */
static int l_partners(lua_State *L)
{
	struct s2sp_policy *p = check_policy(L, 1);
	uint32_t i;
	int cache;

	lua_getiuservalue(L, 1, S2SP_UV_PARTNERS);
	cache = lua_gettop(L);
	lua_createtable(L, p->npartners > INT_MAX ? INT_MAX : (int)p->npartners, 0);
	for (i = 1; i <= p->npartners; i++) {
		s2sp_pview_get(L, cache, p, i);
		lua_rawseti(L, -2, (lua_Integer)i);
	}
	return 1;
}

/* policy:default() -> partner | nil */
static int l_default(lua_State *L)
{
	check_policy(L, 1);
	lua_getiuservalue(L, 1, S2SP_UV_DEFAULT);
	return 1;
}

/* policy:types() -> { [type] = true, ... }: the types of the partners and the default partner */
static int l_types(lua_State *L)
{
	struct s2sp_policy *p = check_policy(L, 1);
	unsigned t;

	lua_createtable(L, 0, S2SP_PARTNER_TYPE_COUNT);
	for (t = 0; t < S2SP_PARTNER_TYPE_COUNT; t++) {
		if (p->types & (1u << t)) {
			lua_pushboolean(L, 1);
			lua_setfield(L, -2, s2sp_partner_type_name((enum s2sp_partner_type)t));
		}
	}
	return 1;
}

/*
 * policy:count_where(field, value) -> integer: how many listed partners (the default partner
 * is not counted) have field == value, for field "tls", "sasl" (a value such as "required")
 * or "dialback" (a boolean). A value no partner can have (another type, an unknown name)
 * counts 0; any other field raises.
 */
static int l_count_where(lua_State *L)
{
	struct s2sp_policy *p = check_policy(L, 1);
	const char *field = luaL_checkstring(L, 2);
	const uint32_t *counts;
	enum s2sp_negotiation v;
	const char *s;
	size_t len;

	if (strcmp(field, "dialback") == 0) {
		lua_pushinteger(L, lua_type(L, 3) != LUA_TBOOLEAN ? 0
				   : (lua_Integer)p->n_dialback[lua_toboolean(L, 3) ? 1 : 0]);
		return 1;
	}
	if (strcmp(field, "tls") == 0)
		counts = p->n_tls;
	else if (strcmp(field, "sasl") == 0)
		counts = p->n_sasl;
	else
		return luaL_argerror(L, 2, lua_pushfstring(L, "cannot count partners by field "
				     "\"%s\" (tls, sasl or dialback)", field));
	if (lua_type(L, 3) != LUA_TSTRING) {
		lua_pushinteger(L, 0);
		return 1;
	}
	s = lua_tolstring(L, 3, &len);
	lua_pushinteger(L, s2sp_negotiation_parse(s, len, &v) == 0 ? (lua_Integer)counts[v] : 0);
	return 1;
}

/* #policy -> number of partners */
static int l_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)check_policy(L, 1)->npartners);
	return 1;
}

/* tostring(policy) -> "s2s_partners.policy (N partners[, default])" */
static int l_tostring(lua_State *L)
{
	struct s2sp_policy *p = check_policy(L, 1);

	lua_pushfstring(L, "%s (%I partners%s%s)", S2SP_POLICY_MT, (LUAI_UACINT)p->npartners,
			p->has_default ? ", default" : "", p->closed ? ", closed" : "");
	return 1;
}

/* __close: free the domain table; lookups on a closed policy raise, the rest still answers. */
static int l_close(lua_State *L)
{
	struct s2sp_policy *p = check_policy(L, 1);

	s2sp_ptable_free(&p->domains);
	p->closed = true;
	return 0;
}

/* __gc: free everything the policy owns. */
static int l_gc(lua_State *L)
{
	struct s2sp_policy *p = check_policy(L, 1);

	l_close(L);
	free(p->recs);
	p->recs = NULL;
	s2sp_arena_free(&p->strings);
	return 0;
}

/* tostring(warning) -> warning.text */
static int l_warning_tostring(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	if (lua_getfield(L, 1, "text") != LUA_TSTRING) {
		lua_pop(L, 1);
		lua_pushliteral(L, S2SP_WARNING_MT);
	}
	return 1;
}

void s2sp_open_policy(lua_State *L)
{
	static const luaL_Reg functions[] = {
		{ "compile", l_compile },
		{ NULL,      NULL      },
	};
	static const luaL_Reg policy_methods[] = {
		{ "lookup",   l_lookup   },
		{ "resolve",  l_resolve  },
		{ "partners", l_partners },
		{ "default",  l_default  },
		{ "types",       l_types       },
		{ "count_where", l_count_where },
		{ NULL,       NULL       },
	};
	static const luaL_Reg policy_meta[] = {
		{ "__gc",       l_gc       },
		{ "__close",    l_close    },
		{ "__len",      l_len      },
		{ "__tostring", l_tostring },
		{ NULL,         NULL       },
	};
	static const luaL_Reg warning_meta[] = {
		{ "__tostring", l_warning_tostring },
		{ NULL,         NULL               },
	};

	luaL_newmetatable(L, S2SP_POLICY_MT);
	luaL_setfuncs(L, policy_meta, 0);
	luaL_newlibtable(L, policy_methods);
	luaL_setfuncs(L, policy_methods, 0);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);

	luaL_newmetatable(L, S2SP_WARNING_MT);
	luaL_setfuncs(L, warning_meta, 0);
	lua_pop(L, 1);

	luaL_setfuncs(L, functions, 0);
}
