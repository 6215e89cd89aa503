/*
 * mod_s2s_partners — how a refused compilation is reported (compile_error.h): its error
 * object, how a refused value is shown in it, and what is wrong with a table given as a list.
 */
#include "compile_error.h"

#include <string.h>

void s2sp_push_compile_error(lua_State *L, const char *prefix, const lua_Integer *index,
			     const char *field)
{
	int reason = lua_gettop(L);

	lua_createtable(L, 0, 4);
	if (prefix != NULL)
		lua_pushfstring(L, "%s: %s", prefix, lua_tostring(L, reason));
	else
		lua_pushvalue(L, reason);
	lua_setfield(L, -2, "text");
	lua_pushvalue(L, reason);
	lua_setfield(L, -2, "message");
	if (index != NULL) {
		lua_pushinteger(L, *index);
		lua_setfield(L, -2, "index");
	}
	if (field != NULL) {
		lua_pushstring(L, field);
		lua_setfield(L, -2, "field");
	}
	lua_remove(L, reason);
}

const char *s2sp_push_quoted(lua_State *L, const char *s, size_t len)
{
	char shown[S2SP_ESCAPE_SIZE(S2SP_SHOWN_MAX)];

	s2sp_escape(s, len, S2SP_SHOWN_MAX, shown, sizeof shown);
	return lua_pushfstring(L, "\"%s\"", shown);
}

const char *s2sp_describe(lua_State *L, int idx)
{
	size_t len;
	const char *s;

	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		return s2sp_push_quoted(L, s, len);
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
		return lua_pushfstring(L, "%f", (LUAI_UACNUMBER)lua_tonumber(L, idx));
	default:
		return lua_pushstring(L, luaL_typename(L, idx));
	}
}

bool s2sp_key_less(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c < 0 || (c == 0 && alen < blen);
}

const char *s2sp_list_problem(lua_State *L, int idx, lua_Integer *n, lua_Integer *hole)
{
	lua_Integer count = 0, max = 0, bad_int = 0;
	const char *key = NULL;
	size_t keylen = 0;
	int other = LUA_TNONE;
	bool has_bad_int = false;

	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (lua_isinteger(L, -1)) {
			lua_Integer k = lua_tointeger(L, -1);

			if (k >= 1) {
				count++;
				if (k > max)
					max = k;
			} else if (!has_bad_int || k < bad_int) {
				bad_int = k;
				has_bad_int = true;
			}
		} else if (lua_type(L, -1) == LUA_TSTRING) {
			size_t len;
			/* stays valid: the key is held by the table, which does not change */
			const char *k = lua_tolstring(L, -1, &len);

			if (key == NULL || s2sp_key_less(k, len, key, keylen)) {
				key = k;
				keylen = len;
			}
		} else if (other == LUA_TNONE) {
			other = lua_type(L, -1);
		}
	}
	if (key != NULL) {
		s2sp_push_quoted(L, key, keylen);
		lua_pushfstring(L, "a table with field %s", lua_tostring(L, -1));
		lua_remove(L, -2);
		return lua_tostring(L, -1);
	}
	if (has_bad_int)
		return lua_pushfstring(L, "a table with key %I", (LUAI_UACINT)bad_int);
	if (other != LUA_TNONE)
		return lua_pushfstring(L, "a table with a key of type %s", lua_typename(L, other));
	if (max != count) {
		if (hole != NULL) {
			/* the first one: at most one past the number of entries */
			for (*hole = 1; lua_rawgeti(L, idx, *hole) != LUA_TNIL; (*hole)++)
				lua_pop(L, 1);
			lua_pop(L, 1);
		}
		return lua_pushliteral(L, "a table with holes");
	}
	*n = count;
	return NULL;
}
