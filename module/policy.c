/*
 * mod_s2s_partners — compiled partner policy.
 *
 * partners.compile(list [, default]) -> policy, warnings | nil, err, detail
 * partners.compiler(list [, default]) -> compiler | nil, err, detail (the list itself refused)
 * compiler:step(n)       -> false (records remain) | policy, warnings | nil, err, detail
 * compiler:progress()    -> done, total (records validated so far, records in the list)
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
 * A compilation has three phases, the one code path of both compile() and the compiler:
 * compile_begin (the refusals of the list itself; the policy userdata, its records allocated
 * and its domain table sized), compile_records (records from..to, in list order) and
 * compile_finish (the default partner). compile() runs them all under one lua_pcall; the
 * compiler runs begin when made, and under one lua_pcall per step() up to n records, then
 * finish with the step that validates the last one (the first step, for an empty list), so
 * that a running server can compile a long list a slice per event-loop turn. Answers, refusal
 * texts and details are those of compile() for the same list and default. The compiler keeps
 * the list, the default and the half-built policy in its uservalues; the caller must not
 * change the list nor the default (nor the records) between steps. Once it has answered,
 * every later step() returns that answer again (the same policy and warnings tables, or the
 * same err and detail), and the list and default are released; a step that raised an error
 * that is not a refusal (out of memory) leaves a compiler whose later steps raise. An
 * abandoned compiler leaks nothing: the half-built policy is a policy userdata whose __gc
 * frees what it owns.
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

/*
 * The three phases of a compilation, shared by compile() and the compiler object; each raises
 * on any refusal and runs under lua_pcall. They work on the stack 1 list, 2 default, and from
 * compile_begin on, 3 policy, 4 warnings (the policy being built and its list of warnings).
 */

/* Check the list at index 1 (the refusals of the list itself), then push the policy userdata
 * (its records allocated, its domain table sized) and the warnings; returns the list's length. */
static lua_Integer compile_begin(lua_State *L)
{
	struct s2sp_policy *p;
	const char *problem;
	lua_Integer n = 0, hole = 0;

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
		lua_error(L);
	}
	if (n >= INT32_MAX)
		raise_error(L, LIST_PREFIX, "too many partner records");

	/* the userdata first: from here on, what it owns is freed by __gc whatever happens */
	p = lua_newuserdatauv(L, sizeof *p, 2);
	memset(p, 0, sizeof *p);
	s2sp_ptable_init(&p->domains);
	luaL_setmetatable(L, S2SP_POLICY_MT);
	p->recs = calloc((size_t)n + 1, sizeof *p->recs);
	if (p->recs == NULL || s2sp_ptable_reserve(&p->domains, count_domains(L, n)) != 0)
		raise_error(L, NULL, "not enough memory");
	lua_newtable(L);
	return n;
}

/* Validate records from..to of the list (stack as above, nothing above 4). */
static void compile_records(lua_State *L, lua_Integer from, lua_Integer to)
{
	struct s2sp_policy *p = lua_touserdata(L, 3);
	lua_Integer i;

	for (i = from; i <= to; i++) {
		lua_rawgeti(L, 1, i);
		s2sp_compile_record(L, p, i, 5, 1, 4);
		lua_settop(L, 4);
	}
}

/* Once the n records are validated: the default partner, and the cache of partner tables. */
static void compile_finish(lua_State *L, lua_Integer n)
{
	struct s2sp_policy *p = lua_touserdata(L, 3);

	p->npartners = (uint32_t)n;
	/* the partners' tables, built on first use (pview.c); not presized: n slots at once would be
	 * one large allocation, which Lua's collector pays for within this step (README
	 * "Performance": 60 ms at 100,000 partners) */
	lua_newtable(L);
	lua_setiuservalue(L, 3, S2SP_UV_PARTNERS);
	if (!lua_isnil(L, 2)) {
		s2sp_compile_record(L, p, 0, 2, 1, 4);
		s2sp_pview_build(L, p, 0);
		lua_setiuservalue(L, 3, S2SP_UV_DEFAULT);
		p->has_default = true;
	}
}

/* The body of compile(), run under lua_pcall: begin, every record, finish. */
static int compile_protected(lua_State *L)
{
	lua_Integer n;

	luaL_checkstack(L, 60, NULL);
	lua_settop(L, 2);
	n = compile_begin(L);
	compile_records(L, 1, n);
	compile_finish(L, n);
	return 2; /* policy, warnings */
}

/*
 * After a lua_pcall that failed with status: turn a refusal (the error object made by
 * s2sp_push_compile_error, or a string raised by the Lua API) on top of the stack into
 * nil, text, detail and return 3; raise anything else again (out of memory and the like are
 * not a verdict on the config).
 */
static int push_refusal(lua_State *L, int status)
{
	if (status != LUA_ERRRUN)
		return lua_error(L);
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
	return push_refusal(L, status);
}

/*
 * The compiler object: the same three phases, one slice of records per step(). Its uservalues
 * keep the list and the default partner (so they are not collected between steps) and the
 * policy being built with its warnings; once it has answered, 3 and 4 hold the answer (policy,
 * warnings or text, detail) and 1 and 2 are cleared. The half-built policy is an ordinary
 * policy userdata, so an abandoned compiler leaks nothing: its __gc frees what it owns.
 */
#define S2SP_COMPILER_MT "s2s_partners.compiler"

#define CUV_LIST     1 /* the list of records */
#define CUV_DEFAULT  2 /* the default partner, or nil */
#define CUV_POLICY   3 /* the policy being built; once refused, the refusal's text */
#define CUV_WARNINGS 4 /* its warnings; once refused, the refusal's detail */
#define CUV_COUNT    4

enum compiler_state {
	COMPILER_RUNNING, /* records remain (or only finish does) */
	COMPILER_BUSY,    /* inside step() */
	COMPILER_DONE,    /* answered policy, warnings */
	COMPILER_REFUSED, /* answered nil, err, detail */
	COMPILER_FAILED,  /* raised an error that is not a refusal (out of memory...) */
};

struct s2sp_compiler {
	lua_Integer total; /* records in the list */
	lua_Integer done;  /* records validated so far */
	enum compiler_state state;
};

static struct s2sp_compiler *check_compiler(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, S2SP_COMPILER_MT);
}

/* Run under lua_pcall with 1 list, 2 default; returns policy, warnings, n. */
static int begin_protected(lua_State *L)
{
	lua_Integer n;

	luaL_checkstack(L, 60, NULL);
	lua_settop(L, 2);
	n = compile_begin(L);
	lua_pushinteger(L, n);
	return 3;
}

/* Run under lua_pcall with 1 list, 2 default, 3 policy, 4 warnings, 5 from, 6 to, 7 total:
 * records from..to, and the finish when to is the last; returns policy, warnings. */
static int step_protected(lua_State *L)
{
	lua_Integer from = lua_tointeger(L, 5), to = lua_tointeger(L, 6);
	lua_Integer total = lua_tointeger(L, 7);

	luaL_checkstack(L, 60, NULL);
	lua_settop(L, 4);
	compile_records(L, from, to);
	if (to == total)
		compile_finish(L, total);
	return 2;
}

/* partners.compiler(list [, default]) -> compiler | nil, err, detail */
static int l_compiler(lua_State *L)
{
	struct s2sp_compiler *c;
	int status;

	lua_settop(L, 2);
	lua_pushcfunction(L, begin_protected);
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	status = lua_pcall(L, 2, 3, 0); /* 3 policy, 4 warnings, 5 n */
	if (status != LUA_OK)
		return push_refusal(L, status);
	c = lua_newuserdatauv(L, sizeof *c, CUV_COUNT);
	c->total = lua_tointeger(L, 5);
	c->done = 0;
	c->state = COMPILER_RUNNING;
	luaL_setmetatable(L, S2SP_COMPILER_MT);
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, CUV_LIST);
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, -2, CUV_DEFAULT);
	lua_pushvalue(L, 3);
	lua_setiuservalue(L, -2, CUV_POLICY);
	lua_pushvalue(L, 4);
	lua_setiuservalue(L, -2, CUV_WARNINGS);
	return 1;
}

/* Push the answer kept in uservalues 3 and 4 of the compiler at index 1; returns its size. */
static int push_answer(lua_State *L, const struct s2sp_compiler *c)
{
	if (c->state == COMPILER_REFUSED)
		lua_pushnil(L);
	lua_getiuservalue(L, 1, CUV_POLICY);
	lua_getiuservalue(L, 1, CUV_WARNINGS);
	return c->state == COMPILER_REFUSED ? 3 : 2;
}

/* Keep the answer on top of the stack (2 values) in uservalues 3 and 4; drop the list. */
static void keep_answer(lua_State *L, struct s2sp_compiler *c, enum compiler_state state)
{
	lua_setiuservalue(L, 1, CUV_WARNINGS);
	lua_setiuservalue(L, 1, CUV_POLICY);
	lua_pushnil(L);
	lua_setiuservalue(L, 1, CUV_LIST);
	lua_pushnil(L);
	lua_setiuservalue(L, 1, CUV_DEFAULT);
	c->state = state;
}

/*
 * compiler:step(n) -> false | policy, warnings | nil, err, detail: validate up to n (a
 * positive integer) more records; false while records remain; with the last one, the default
 * partner too and compile()'s answer. Once answered, every later step() returns the same
 * answer again (the same policy and warnings, or the same err and detail).
 */
static int l_step(lua_State *L)
{
	struct s2sp_compiler *c = check_compiler(L, 1);
	lua_Integer n, to;
	int isint = 0, status;

	n = lua_tointegerx(L, 2, &isint);
	if (lua_type(L, 2) != LUA_TNUMBER || !isint || n < 1)
		return luaL_argerror(L, 2, lua_pushfstring(L, "expected a positive integer, got %s",
				     lua_type(L, 2) == LUA_TNUMBER ? lua_tostring(L, 2)
								   : luaL_typename(L, 2)));
	switch (c->state) {
	case COMPILER_DONE:
	case COMPILER_REFUSED:
		lua_settop(L, 1);
		return push_answer(L, c);
	case COMPILER_BUSY:
		return luaL_error(L, "compiler:step() called from within step()");
	case COMPILER_FAILED:
		return luaL_error(L, "compiler failed: an earlier step() raised an error");
	case COMPILER_RUNNING:
		break;
	}
	to = c->total - c->done <= n ? c->total : c->done + n;
	lua_settop(L, 1);
	lua_pushcfunction(L, step_protected);
	lua_getiuservalue(L, 1, CUV_LIST);
	lua_getiuservalue(L, 1, CUV_DEFAULT);
	lua_getiuservalue(L, 1, CUV_POLICY);
	lua_getiuservalue(L, 1, CUV_WARNINGS);
	lua_pushinteger(L, c->done + 1);
	lua_pushinteger(L, to);
	lua_pushinteger(L, c->total);
	c->state = COMPILER_BUSY;
	status = lua_pcall(L, 7, 2, 0);
	if (status == LUA_OK) {
		c->done = to;
		if (to < c->total) {
			c->state = COMPILER_RUNNING;
			lua_pushboolean(L, 0);
			return 1;
		}
		keep_answer(L, c, COMPILER_DONE);
		return push_answer(L, c);
	}
	c->state = COMPILER_FAILED; /* the policy may be half-way through a record */
	if (push_refusal(L, status) != 3) /* raises when not a refusal */
		return 0;
	keep_answer(L, c, COMPILER_REFUSED); /* text, detail */
	lua_pop(L, 1); /* the nil */
	return push_answer(L, c);
}

/* compiler:progress() -> done, total: records validated so far, records in the list */
static int l_progress(lua_State *L)
{
	struct s2sp_compiler *c = check_compiler(L, 1);

	lua_pushinteger(L, c->done);
	lua_pushinteger(L, c->total);
	return 2;
}

/* tostring(compiler) -> "s2s_partners.compiler (done/total)" */
static int l_compiler_tostring(lua_State *L)
{
	struct s2sp_compiler *c = check_compiler(L, 1);

	lua_pushfstring(L, "%s (%I/%I)", S2SP_COMPILER_MT, (LUAI_UACINT)c->done,
			(LUAI_UACINT)c->total);
	return 1;
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
		{ "compile",  l_compile  },
		{ "compiler", l_compiler },
		{ NULL,       NULL       },
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
	static const luaL_Reg compiler_methods[] = {
		{ "step",     l_step     },
		{ "progress", l_progress },
		{ NULL,       NULL       },
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

	luaL_newmetatable(L, S2SP_COMPILER_MT);
	lua_pushcfunction(L, l_compiler_tostring);
	lua_setfield(L, -2, "__tostring");
	luaL_newlibtable(L, compiler_methods);
	luaL_setfuncs(L, compiler_methods, 0);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);

	luaL_newmetatable(L, S2SP_WARNING_MT);
	luaL_setfuncs(L, warning_meta, 0);
	lua_pop(L, 1);

	luaL_setfuncs(L, functions, 0);
}
