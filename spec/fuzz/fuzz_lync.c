/*
 * libFuzzer target: the Lync export reader (README "Migrating from Lync"), in one long-lived
 * Lua state: partners.lync_parse(text [, format]) in the C core (module/lync*.c), then the
 * Lua mapping of lua/lync.lib.lua over the same text (records, validation, line numbers).
 *
 * Input: first byte = format (0 recognised from the text, 1 csv, 2 list, 3 json; others as
 * 0), the rest is the file.
 * Invariants: lync_parse returns a result table whose rows have an integer line >= 1 and
 * fields { name = string, value = string or list of strings, kind = string }, or nil and a
 * string; it never raises. import() never raises, and returns a result or nil and a string.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const formats[] = { NULL, "csv", "list", "json" };

/* The Lua importer, made once from the repository's lua/lync.lib.lua (run from the root). */
static int importer(lua_State *L)
{
	static int ref = LUA_NOREF;

	if (ref == LUA_NOREF) {
		luaL_openlibs(L); /* the library uses string, table and math */
		if (luaL_loadfile(L, "lua/lync.lib.lua") != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
			abort();
		lua_getglobal(L, "partners");
		if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1))
			abort();
		lua_getfield(L, -1, "import");
		ref = luaL_ref(L, LUA_REGISTRYINDEX);
		lua_pop(L, 1);
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	return lua_gettop(L);
}

static void check_value(lua_State *L, int kind_is_list)
{
	if (kind_is_list) {
		if (!lua_istable(L, -1))
			abort();
		for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
			if (lua_type(L, -1) != LUA_TSTRING)
				abort();
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	} else if (lua_type(L, -1) != LUA_TSTRING) {
		abort();
	}
}

static void check_result(lua_State *L, int res)
{
	if (lua_getfield(L, res, "rows") != LUA_TTABLE)
		abort();
	for (lua_Integer r = 1; lua_rawgeti(L, -1, r) == LUA_TTABLE; r++) {
		if (lua_getfield(L, -1, "line") != LUA_TNUMBER || !lua_isinteger(L, -1) ||
		    lua_tointeger(L, -1) < 1)
			abort();
		lua_pop(L, 1);
		if (lua_getfield(L, -1, "fields") != LUA_TTABLE)
			abort();
		for (lua_Integer f = 1; lua_rawgeti(L, -1, f) == LUA_TTABLE; f++) {
			int list;

			if (lua_getfield(L, -1, "name") != LUA_TSTRING ||
			    lua_getfield(L, -2, "kind") != LUA_TSTRING)
				abort();
			list = lua_tostring(L, -1)[0] == 'l';
			lua_pop(L, 2);
			lua_getfield(L, -1, "value");
			check_value(L, list);
			lua_pop(L, 1);
		}
		lua_pop(L, 3);
	}
	lua_pop(L, 2);
	if (lua_getfield(L, res, "notes") != LUA_TTABLE)
		abort();
	lua_pop(L, 1);
}

/* Call the function on top of the stack with (text, format or nil); must not raise. */
static void call(lua_State *L, const char *text, size_t len, const char *format)
{
	lua_pushlstring(L, text, len);
	if (format != NULL)
		lua_pushstring(L, format);
	else
		lua_pushnil(L);
	if (lua_pcall(L, 2, 2, 0) != LUA_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lua_State *L = lua_state();
	const char *format = size > 0 && data[0] < 4 ? formats[data[0]] : NULL;
	const char *text = size > 0 ? (const char *)data + 1 : "";
	size_t len = size > 0 ? size - 1 : 0;

	lua_settop(L, 0);
	lua_getglobal(L, "partners");
	lua_getfield(L, 1, "lync_parse");
	call(L, text, len, format);
	if (lua_istable(L, -2))
		check_result(L, lua_gettop(L) - 1);
	else if (!lua_isnil(L, -2) || lua_type(L, -1) != LUA_TSTRING)
		abort();

	lua_settop(L, 0);
	importer(L);
	call(L, text, len, format);
	if (!lua_istable(L, -2) && (!lua_isnil(L, -2) || lua_type(L, -1) != LUA_TSTRING))
		abort();
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
