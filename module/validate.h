/*
 * mod_s2s_partners — validation of one partner record (README "Partner record" and "Negotiation
 * matrix") into its compact form (prec.h).
 *
 * Lua-facing helpers of partners.compile(); the pure-C field parsers are in record.h, how a
 * refusal is reported in compile_error.h.
 */
#ifndef S2SP_VALIDATE_H
#define S2SP_VALIDATE_H

#include "compile_error.h"
#include "lua_api.h"
#include "policy.h"

/*
 * Compile the record at stack index rec (index 0: the default partner) into p->recs[index]
 * (allocated by the caller), its strings into p->strings and its domains into p->domains;
 * pushes nothing, and updates what policy:types() and count_where() answer from. Raises a
 * compile error naming the record (and the field, where the refusal is about one) on any
 * refusal. A warning row appends a warning
 * (metatable S2SP_WARNING_MT) to the list at index `warnings`. `list` is the stack index of
 * the caller's list of records (to name the owner of a taken domain).
 */
void s2sp_compile_record(lua_State *L, struct s2sp_policy *p, lua_Integer index, int rec,
			 int list, int warnings);

#endif
