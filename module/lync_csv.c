/*
 * mod_s2s_partners — Export-Csv output (README "Migrating from Lync"): RFC 4180 records (a
 * field in double quotes may hold the delimiter, line breaks and "" for a quote), the first
 * record names the columns. Windows PowerShell 5.1 writes a "#TYPE <class>" line first unless
 * given -NoTypeInformation, and the list separator of the culture (";" in much of Europe)
 * with -UseCulture: both are recognised. Lines end in CRLF or LF.
 */
#include "lync.h"

#include <strings.h>

struct csv {
	struct s2sp_lync_out *o;
	const char *s;
	size_t len, pos;
	lua_Integer line; /* of s[pos] */
	char delim;
};

static int at_eol(const struct csv *c)
{
	return c->pos >= c->len || c->s[c->pos] == '\n' || c->s[c->pos] == '\r';
}

/* Step over one line end (CRLF, LF or CR) at pos. */
static void skip_eol(struct csv *c)
{
	if (c->pos < c->len && c->s[c->pos] == '\r')
		c->pos++;
	if (c->pos < c->len && c->s[c->pos] == '\n')
		c->pos++;
	c->line++;
}

/* Read one field at pos and push it; NULL, or an error (pushed). */
static const char *field(struct csv *c)
{
	lua_State *L = c->o->L;
	lua_Integer opened = c->line;
	luaL_Buffer b;

	if (c->pos >= c->len || c->s[c->pos] != '"') {
		size_t start = c->pos;

		while (!at_eol(c) && c->s[c->pos] != c->delim)
			c->pos++;
		lua_pushlstring(L, c->s + start, c->pos - start);
		return NULL;
	}
	c->pos++;
	luaL_buffinit(L, &b);
	for (;;) {
		if (c->pos >= c->len) {
			luaL_pushresult(&b);
			return lua_pushfstring(L, "line %I: a quoted field is not closed",
					       (LUAI_UACINT)opened);
		}
		if (c->s[c->pos] == '"') {
			if (c->pos + 1 < c->len && c->s[c->pos + 1] == '"') {
				luaL_addchar(&b, '"');
				c->pos += 2;
				continue;
			}
			c->pos++;
			break;
		}
		if (c->s[c->pos] == '\n')
			c->line++;
		luaL_addchar(&b, c->s[c->pos]);
		c->pos++;
	}
	luaL_pushresult(&b);
	if (!at_eol(c) && c->s[c->pos] != c->delim)
		return lua_pushfstring(L, "line %I: text after the closing quote of a field",
				       (LUAI_UACINT)c->line);
	return NULL;
}

/* The delimiter of the header line at pos: the first ',', ';' or tab outside quotes. */
static char find_delimiter(const struct csv *c)
{
	int quoted = 0;

	for (size_t i = c->pos; i < c->len && (quoted || (c->s[i] != '\n' && c->s[i] != '\r'));
	     i++) {
		if (c->s[i] == '"')
			quoted = !quoted;
		else if (!quoted && (c->s[i] == ',' || c->s[i] == ';' || c->s[i] == '\t'))
			return c->s[i];
	}
	return ',';
}

/* Read the header record into a new table on the stack; NULL, or an error (pushed). */
static const char *header(struct csv *c, lua_Integer *count)
{
	lua_State *L = c->o->L;
	const char *err;

	lua_newtable(L);
	*count = 0;
	for (;;) {
		err = field(c);
		if (err != NULL)
			return err;
		lua_rawseti(L, -2, ++*count);
		if (at_eol(c))
			break;
		c->pos++; /* the delimiter */
	}
	skip_eol(c);
	return NULL;
}

/* Read one data record into a row, named by the header at hdr; NULL, or an error (pushed). */
static const char *record(struct csv *c, int hdr, lua_Integer columns, int *extra_noted)
{
	lua_State *L = c->o->L;
	lua_Integer i = 0;
	const char *err;

	s2sp_lync_begin_row(c->o, c->line);
	for (;;) {
		err = field(c);
		if (err != NULL)
			return err;
		if (++i <= columns) {
			size_t nlen;
			const char *name;

			lua_rawgeti(L, hdr, i);
			name = lua_tolstring(L, -1, &nlen); /* kept alive by the header table */
			lua_pop(L, 1);
			s2sp_lync_add_field(c->o, name, nlen, S2SP_LYNC_STRING);
		} else {
			lua_pop(L, 1);
			if (!*extra_noted) {
				s2sp_lync_note(c->o, c->line, "more fields than columns: the extra "
							      "fields are ignored");
				*extra_noted = 1;
			}
		}
		if (at_eol(c))
			break;
		c->pos++;
	}
	skip_eol(c);
	s2sp_lync_end_row(c->o);
	return NULL;
}

/* Skip lines that hold nothing but spaces. */
static void skip_blank_lines(struct csv *c)
{
	for (;;) {
		size_t i = c->pos;

		while (i < c->len && (c->s[i] == ' ' || c->s[i] == '\t'))
			i++;
		if (i >= c->len) {
			c->pos = i;
			return;
		}
		if (c->s[i] != '\n' && c->s[i] != '\r')
			return;
		c->pos = i;
		skip_eol(c);
	}
}

const char *s2sp_lync_csv(struct s2sp_lync_out *o, const char *s, size_t len)
{
	struct csv c = { .o = o, .s = s, .len = len, .line = 1 };
	lua_Integer columns;
	int hdr, extra_noted = 0;
	const char *err;

	if (len >= 5 && strncasecmp(s, "#TYPE", 5) == 0) {
		while (!at_eol(&c))
			c.pos++;
		skip_eol(&c);
		s2sp_lync_note(o, 1, "\"#TYPE\" line skipped (Export-Csv without -NoTypeInformation)");
	}
	skip_blank_lines(&c);
	if (c.pos >= len)
		return lua_pushliteral(o->L, "no header line: the file has no columns");
	c.delim = find_delimiter(&c);
	if (c.delim != ',')
		s2sp_lync_note(o, c.line, c.delim == ';' ? "columns separated by \";\" (-UseCulture)"
							 : "columns separated by tabs");
	err = header(&c, &columns);
	if (err != NULL)
		return err;
	hdr = lua_gettop(o->L);
	for (;;) {
		skip_blank_lines(&c);
		if (c.pos >= len)
			break;
		err = record(&c, hdr, columns, &extra_noted);
		if (err != NULL)
			return err;
	}
	lua_pop(o->L, 1);
	return NULL;
}
