/*
 * mod_s2s_partners — Lync exports of Get-CsXmppAllowedPartner (README "Migrating from Lync").
 *
 * partners.lync_parse(text [, format]) -> result | nil, err
 *   format: "csv", "list" (Format-List), "json"; absent: recognised from the text
 *   result: { format = "csv", encoding = "UTF-16LE",
 *             rows = { { line = 3, fields = { { name = "Domain", value = "a.test",
 *                                                kind = "string" }, ... } }, ... },
 *             notes = { { line = 1, text = "..." }, ... } }
 * A value is a string, or a list of strings for kind "list" (a JSON array). err names the
 * line of the first syntax error. Nothing here knows what a property means.
 */
#include "lync.h"

#include <string.h>

static const char *const kind_names[S2SP_LYNC_KIND_COUNT] = {
	[S2SP_LYNC_STRING]  = "string",
	[S2SP_LYNC_NUMBER]  = "number",
	[S2SP_LYNC_BOOLEAN] = "boolean",
	[S2SP_LYNC_LIST]    = "list",
	[S2SP_LYNC_OBJECT]  = "object",
	[S2SP_LYNC_NULL]    = "null",
};

void s2sp_lync_begin_row(struct s2sp_lync_out *o, lua_Integer line)
{
	lua_createtable(o->L, 0, 2);
	lua_pushinteger(o->L, line);
	lua_setfield(o->L, -2, "line");
	lua_newtable(o->L);
	lua_setfield(o->L, -2, "fields");
	o->row = lua_gettop(o->L);
	o->nfields = 0;
}

void s2sp_lync_add_field(struct s2sp_lync_out *o, const char *name, size_t len,
			 enum s2sp_lync_kind kind)
{
	lua_State *L = o->L;

	lua_createtable(L, 0, 3);
	lua_insert(L, -2);
	lua_setfield(L, -2, "value");
	lua_pushlstring(L, name, len);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, kind_names[kind]);
	lua_setfield(L, -2, "kind");
	lua_getfield(L, o->row, "fields");
	lua_insert(L, -2);
	lua_rawseti(L, -2, ++o->nfields);
	lua_pop(L, 1);
}

void s2sp_lync_end_row(struct s2sp_lync_out *o)
{
	lua_pushvalue(o->L, o->row);
	lua_rawseti(o->L, o->rows, ++o->nrows);
	lua_settop(o->L, o->row - 1);
	o->row = 0;
}

void s2sp_lync_note(struct s2sp_lync_out *o, lua_Integer line, const char *text)
{
	lua_createtable(o->L, 0, 2);
	lua_pushinteger(o->L, line);
	lua_setfield(o->L, -2, "line");
	lua_pushstring(o->L, text);
	lua_setfield(o->L, -2, "text");
	lua_rawseti(o->L, o->notes, ++o->nnotes);
}

static const char *const formats[] = { "csv", "list", "json", NULL };

/* The format of UTF-8 text s[0..len): JSON starts with '{' or '[', Format-List with a line
 * "Name : value" (or "Name :"), anything else is CSV. */
static int detect(const char *s, size_t len)
{
	size_t i = 0, j;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	if (i < len && (s[i] == '{' || s[i] == '['))
		return 2;
	for (j = i; j < len && ((s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= 'a' && s[j] <= 'z') ||
				(j > i && s[j] >= '0' && s[j] <= '9'));
	     j++)
		;
	if (j == i)
		return 0;
	while (j < len && s[j] == ' ')
		j++;
	if (j < len && s[j] == ':' && (j + 1 == len || s[j + 1] == ' ' || s[j + 1] == '\r' ||
				       s[j + 1] == '\n'))
		return 1;
	return 0;
}

static int l_lync_parse(lua_State *L)
{
	size_t len;
	const char *in = luaL_checklstring(L, 1, &len), *s, *encoding, *err = NULL;
	int format = lua_isnoneornil(L, 2) ? -1 : luaL_checkoption(L, 2, NULL, formats);
	struct s2sp_lync_out o = { .L = L };

	lua_settop(L, 2);
	encoding = s2sp_lync_decode(L, in, len, &err);
	if (encoding == NULL) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	s = lua_tolstring(L, 3, &len);
	if (format < 0)
		format = detect(s, len);
	lua_createtable(L, 0, 4); /* 4: the result */
	lua_newtable(L);
	o.rows = lua_gettop(L);
	lua_newtable(L);
	o.notes = lua_gettop(L);
	switch (format) {
	case 0:
		err = s2sp_lync_csv(&o, s, len);
		break;
	case 1:
		err = s2sp_lync_list(&o, s, len);
		break;
	default:
		err = s2sp_lync_json(&o, s, len);
		break;
	}
	if (err != NULL) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_settop(L, o.notes);
	lua_setfield(L, 4, "notes");
	lua_setfield(L, 4, "rows");
	lua_pushstring(L, formats[format]);
	lua_setfield(L, 4, "format");
	lua_pushstring(L, encoding);
	lua_setfield(L, 4, "encoding");
	return 1;
}

void s2sp_open_lync(lua_State *L)
{
	lua_pushcfunction(L, l_lync_parse);
	lua_setfield(L, -2, "lync_parse");
}
