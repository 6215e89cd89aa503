/*
 * mod_s2s_partners — the Lua view of a compiled partner: its partner table, built from the
 * compact record (prec.h) on first use and cached in the policy's uservalues, so that every
 * lookup of a partner returns the same table.
 */
#ifndef S2SP_PVIEW_H
#define S2SP_PVIEW_H

#include "lua_api.h"
#include "policy.h"

/*
 * Push the cache of partner tables of the policy userdata at stack index pol (its uservalue
 * S2SP_UV_PARTNERS), then the table of partner `index` (1..npartners), built on first use and
 * cached: later calls push the same table. Two values are pushed, the partner's on top (a C
 * function returning 1 returns it; the cache below does not need removing).
 */
void s2sp_pview_push(lua_State *L, int pol, const struct s2sp_policy *p, uint32_t index);

/* The same, with the cache already at stack index cache: pushes the partner's table only. */
void s2sp_pview_get(lua_State *L, int cache, const struct s2sp_policy *p, uint32_t index);

/* Push a new table for record `index` (0: the default partner), not cached. */
void s2sp_pview_build(lua_State *L, const struct s2sp_policy *p, uint32_t index);

#endif
