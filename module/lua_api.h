/*
 * mod_s2s_partners — C core: Lua registration of each concern.
 *
 * Each concern (matrix, refusal texts, record schema, idna, policy, certificate identity, key
 * pins, dialback keys, Lync exports) lives in its own file and exposes one
 * s2sp_open_<concern>(L) that adds its functions (and metatables) to the module table on top of
 * the stack.
 * luaopen_s2s_partners() in s2s_partners.c calls them all.
 */
#ifndef S2SP_LUA_API_H
#define S2SP_LUA_API_H

#include <lua.h>
#include <lauxlib.h>

void s2sp_open_matrix(lua_State *L);
void s2sp_open_refusal(lua_State *L);
void s2sp_open_schema(lua_State *L);
void s2sp_open_idna(lua_State *L);
void s2sp_open_policy(lua_State *L);
void s2sp_open_certid(lua_State *L);
void s2sp_open_pin(lua_State *L);
void s2sp_open_dialback(lua_State *L);
void s2sp_open_lync(lua_State *L);
void s2sp_open_certusage(lua_State *L);

#endif
