/*
 * mod_s2s_partners — validation of one partner record (README "Partner record" and "Negotiation
 * matrix") into its compact form (prec.h).
 *
 * Lua-facing helpers of partners.compile(); the pure-C field parsers are in record.h.
 */
#ifndef S2SP_VALIDATE_H
#define S2SP_VALIDATE_H

#include "lua_api.h"
#include "policy.h"

/*
 * When the table at idx is a list (keys exactly 1..n) set *n and return NULL, pushing
 * nothing; otherwise push and return what is wrong with it ("a table with field \"x\"",
 * "a table with holes", ...), the same whatever the traversal order. For "a table with holes"
 * *hole (unless hole is NULL) is set to the first missing entry.
 */
const char *s2sp_list_problem(lua_State *L, int idx, lua_Integer *n, lua_Integer *hole);

/*
 * Replace the reason on top of the stack by the error object of a refused compilation, which
 * partners.compile() returns as nil, text, detail: { text = "<prefix>: <reason>" (the reason
 * alone when prefix is NULL), message = reason, index = *index (unless index is NULL), field =
 * field (unless NULL) }. The caller may add to it before raising it with lua_error.
 */
void s2sp_push_compile_error(lua_State *L, const char *prefix, const lua_Integer *index,
			     const char *field);

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
