/*
 * mod_s2s_partners — how a refused compilation of the partner list is reported: the error
 * object partners.compile() returns as nil, text, detail, and how a refused value is shown in
 * its text (README "Partner record").
 */
#ifndef S2SP_COMPILE_ERROR_H
#define S2SP_COMPILE_ERROR_H

#include "lua_api.h"
#include "text.h"

#include <stdbool.h>
#include <stddef.h>

#define S2SP_SHOWN_MAX 100 /* octets of a config value quoted in a message */

/*
 * Replace the reason on top of the stack by the error object of a refused compilation, which
 * partners.compile() returns as nil, text, detail: { text = "<prefix>: <reason>" (the reason
 * alone when prefix is NULL), message = reason, index = *index (unless index is NULL), field =
 * field (unless NULL) }. The caller may add to it before raising it with lua_error.
 */
void s2sp_push_compile_error(lua_State *L, const char *prefix, const lua_Integer *index,
			     const char *field);

/* Push a quoted, escaped copy of the string s[0..len) (at most S2SP_SHOWN_MAX octets of it
 * shown) and return it. */
const char *s2sp_push_quoted(lua_State *L, const char *s, size_t len);

/* Push and return how a refused value is shown: a string quoted, a number as is, else its
 * type. */
const char *s2sp_describe(lua_State *L, int idx);

/* The order of two strings that may hold NULs (which of several bad keys a refusal names, the
 * same whatever the traversal order). */
bool s2sp_key_less(const char *a, size_t alen, const char *b, size_t blen);

/*
 * When the table at idx is a list (keys exactly 1..n) set *n and return NULL, pushing
 * nothing; otherwise push and return what is wrong with it ("a table with field \"x\"",
 * "a table with holes", ...), the same whatever the traversal order. For "a table with holes"
 * *hole (unless hole is NULL) is set to the first missing entry.
 */
const char *s2sp_list_problem(lua_State *L, int idx, lua_Integer *n, lua_Integer *hole);

#endif
