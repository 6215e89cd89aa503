/*
 * Shared by the fuzz targets that drive the Lua API: one long-lived Lua state with the module
 * loaded as the global `partners`.
 */
#ifndef S2SP_FUZZ_LUA_H
#define S2SP_FUZZ_LUA_H

#include <stdlib.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

int luaopen_s2s_partners(lua_State *L);

static lua_State *lua_state(void)
{
	static lua_State *L;

	if (L == NULL) {
		L = luaL_newstate();
		if (L == NULL)
			abort();
		luaL_requiref(L, "s2s_partners", luaopen_s2s_partners, 0);
		lua_setglobal(L, "partners");
	}
	return L;
}

#endif
