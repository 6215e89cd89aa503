/*
 * mod_s2s_partners — reading what Lync / Skype for Business Server exports of its XMPP partners
 * (Get-CsXmppAllowedPartner; README "Migrating from Lync"): the text's encoding, then one of
 * three formats, Export-Csv (RFC 4180), Format-List and ConvertTo-Json, into rows of
 * (property, value) in the order they were read. What the properties mean is the Lua side's
 * business (lua/lync.lib.lua, through partners.schema()).
 *
 * Every parser appends rows and notes through struct s2sp_lync_out and returns NULL, or a
 * message naming the line of the first syntax error. Memory comes from Lua only.
 */
#ifndef S2SP_LYNC_H
#define S2SP_LYNC_H

#include "lua_api.h"

#include <stddef.h>
#include <stdint.h>

/* What a value was in the export: every value reaches Lua as a string, or a list of strings. */
enum s2sp_lync_kind {
	S2SP_LYNC_STRING = 0, /* CSV / Format-List text, a JSON string */
	S2SP_LYNC_NUMBER,     /* a JSON number, as written */
	S2SP_LYNC_BOOLEAN,    /* a JSON true / false, as "True" / "False" (PowerShell's words) */
	S2SP_LYNC_LIST,       /* a JSON array of strings */
	S2SP_LYNC_OBJECT,     /* a JSON object, or an array of anything else: "" */
	S2SP_LYNC_NULL,       /* a JSON null: "" */
	S2SP_LYNC_KIND_COUNT
};

struct s2sp_lync_out {
	lua_State *L;
	int rows, notes;             /* absolute stack indices of the two result lists */
	lua_Integer nrows, nnotes, nfields;
	int row;                     /* absolute index of the open row, 0 when none */
};

/* Open a row read from `line` (pushes it: keep the stack balanced until end_row). */
void s2sp_lync_begin_row(struct s2sp_lync_out *o, lua_Integer line);

/* Add the value on top of the stack (popped) to the open row as property name[0..len). */
void s2sp_lync_add_field(struct s2sp_lync_out *o, const char *name, size_t len,
			 enum s2sp_lync_kind kind);

/* Close the open row and append it to the rows. */
void s2sp_lync_end_row(struct s2sp_lync_out *o);

/* Append a note about `line` (0: the whole file). */
void s2sp_lync_note(struct s2sp_lync_out *o, lua_Integer line, const char *text);

/*
 * Decode in[0..len) to UTF-8 and push it: a UTF-8 BOM is dropped, UTF-16LE / UTF-16BE with
 * a BOM are converted, anything else must already be UTF-8 (ASCII is). Returns the encoding's
 * name, or NULL with *err set (nothing pushed).
 */
const char *s2sp_lync_decode(lua_State *L, const char *in, size_t len, const char **err);

/* Append code point cp (≤ 0x10FFFF, not a surrogate) to b as UTF-8. */
void s2sp_lync_add_utf8(luaL_Buffer *b, uint32_t cp);

/* The parsers, over UTF-8 text s[0..len); NULL, or the error pushed as a string. */
const char *s2sp_lync_csv(struct s2sp_lync_out *o, const char *s, size_t len);
const char *s2sp_lync_list(struct s2sp_lync_out *o, const char *s, size_t len);
const char *s2sp_lync_json(struct s2sp_lync_out *o, const char *s, size_t len);

#endif
