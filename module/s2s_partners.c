/*
 * mod_s2s_partners — C core entry point.
 *
 * local partners = require "s2s_partners"
 *
 * Pure decisions and data: nothing here knows about Prosody.
 */
#include "lua_api.h"

#define S2SP_VERSION "0.1.0"

int luaopen_s2s_partners(lua_State *L);

int luaopen_s2s_partners(lua_State *L)
{
	luaL_checkversion(L);
	lua_newtable(L);
	s2sp_open_matrix(L);
	s2sp_open_refusal(L);
	s2sp_open_schema(L);
	s2sp_open_idna(L);
	s2sp_open_policy(L);
	s2sp_open_certid(L);
	s2sp_open_pin(L);
	s2sp_open_dialback(L);
	s2sp_open_lync(L);
	s2sp_open_certusage(L);
	lua_pushliteral(L, S2SP_VERSION);
	lua_setfield(L, -2, "_VERSION");
	return 1;
}
