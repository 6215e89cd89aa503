/*
 * libFuzzer target: the partner-list compiler, partners.compile(list [, default]), driven
 * through the Lua API in one long-lived Lua state (collected after every input).
 *
 * Input format (one item per line, so seeds stay readable):
 *   domain=a.test;tls=required;dialback=@true       a partner record: fields split by ';'
 *   !type=federated;tls=optional                     the default record (first one only)
 *   %text                                            a list entry that is a string, not a table
 *   ?b.test                                          a domain looked up after compiling
 * A field value is a string, except "#12" (a number when it parses as one), "@true" /
 * "@false" (booleans) and "[a,b,c" (a list of strings split by ','). A field without '='
 * becomes the record's next array element.
 * Invariants: compile either returns a policy and a warnings table, or nil and a string, or
 * raises a string; lookups on a policy never raise and return a table or nil.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Push a field value decoded as described above. */
static void push_value(lua_State *L, const char *v, size_t n)
{
	if (n > 0 && v[0] == '#') {
		char num[64];

		if (n - 1 < sizeof num) {
			memcpy(num, v + 1, n - 1);
			num[n - 1] = '\0';
			if (lua_stringtonumber(L, num) != 0)
				return;
		}
	} else if (n > 0 && v[0] == '@') {
		lua_pushboolean(L, n == 5 && memcmp(v + 1, "true", 4) == 0);
		return;
	} else if (n > 0 && v[0] == '[') {
		lua_Integer i = 0;
		size_t start = 1;

		lua_newtable(L);
		for (size_t k = 1; k <= n; k++) {
			if (k == n || v[k] == ',') {
				lua_pushlstring(L, v + start, k - start);
				lua_rawseti(L, -2, ++i);
				start = k + 1;
			}
		}
		return;
	}
	lua_pushlstring(L, v, n);
}

/* Push a record table from "k=v;k=v;..." */
static void push_record(lua_State *L, const char *s, size_t n)
{
	lua_Integer next = 0;
	size_t start = 0;

	lua_newtable(L);
	for (size_t k = 0; k <= n; k++) {
		const char *item, *eq;
		size_t len;

		if (k < n && s[k] != ';')
			continue;
		item = s + start;
		len = k - start;
		start = k + 1;
		if (len == 0)
			continue;
		eq = memchr(item, '=', len);
		if (eq == NULL) {
			lua_pushlstring(L, item, len);
			lua_rawseti(L, -2, ++next);
			continue;
		}
		lua_pushlstring(L, item, (size_t)(eq - item));
		push_value(L, eq + 1, len - (size_t)(eq - item) - 1);
		lua_rawset(L, -3);
	}
}

/* Call method `name` of the object at idx with optional string arg; must not raise. */
static void call_method(lua_State *L, int idx, const char *name, const char *arg, size_t len)
{
	int top = lua_gettop(L);

	if (lua_getfield(L, idx, name) != LUA_TFUNCTION) {
		lua_settop(L, top);
		return;
	}
	lua_pushvalue(L, idx);
	if (arg != NULL)
		lua_pushlstring(L, arg, len);
	if (lua_pcall(L, arg != NULL ? 2 : 1, 1, 0) != LUA_OK)
		abort();
	if (!lua_isnil(L, -1) && !lua_istable(L, -1))
		abort();
	lua_settop(L, top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lua_State *L = lua_state();
	const char *s = (const char *)data;
	int list, def, queries, status;
	lua_Integer nlist = 0, nq = 0;
	size_t start = 0;

	lua_settop(L, 0);
	lua_getglobal(L, "partners");
	lua_getfield(L, 1, "compile");
	lua_newtable(L);
	list = lua_gettop(L);
	lua_pushnil(L);
	def = lua_gettop(L);
	lua_newtable(L);
	queries = lua_gettop(L);
	for (size_t k = 0; k <= size; k++) {
		const char *line;
		size_t len;

		if (k < size && s[k] != '\n')
			continue;
		line = s + start;
		len = k - start;
		start = k + 1;
		if (len == 0)
			continue;
		switch (line[0]) {
		case '!':
			if (lua_isnil(L, def)) {
				push_record(L, line + 1, len - 1);
				lua_replace(L, def);
			}
			break;
		case '%':
			lua_pushlstring(L, line + 1, len - 1);
			lua_rawseti(L, list, ++nlist);
			break;
		case '?':
			lua_pushlstring(L, line + 1, len - 1);
			lua_rawseti(L, queries, ++nq);
			break;
		default:
			push_record(L, line, len);
			lua_rawseti(L, list, ++nlist);
			break;
		}
	}

	/* compile(list [, default]) */
	lua_pushvalue(L, 2);
	lua_pushvalue(L, list);
	if (!lua_isnil(L, def))
		lua_pushvalue(L, def);
	status = lua_pcall(L, lua_isnil(L, def) ? 1 : 2, 2, 0);
	if (status != LUA_OK) {
		if (lua_type(L, -1) != LUA_TSTRING)
			abort(); /* errors are messages for the operator */
	} else if (lua_isnil(L, -2)) {
		if (lua_type(L, -1) != LUA_TSTRING)
			abort();
	} else if (lua_type(L, -2) == LUA_TUSERDATA) {
		int policy = lua_gettop(L) - 1;

		if (!lua_istable(L, -1))
			abort(); /* warnings */
		for (lua_Integer i = 1; i <= nq; i++) {
			size_t qlen;
			const char *q;

			lua_rawgeti(L, queries, i);
			q = lua_tolstring(L, -1, &qlen);
			call_method(L, policy, "lookup", q, qlen);
			call_method(L, policy, "resolve", q, qlen);
			lua_pop(L, 1);
		}
		call_method(L, policy, "partners", NULL, 0);
		call_method(L, policy, "default", NULL, 0);
	} else {
		abort();
	}
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
