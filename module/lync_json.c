/*
 * mod_s2s_partners — ConvertTo-Json output (README "Migrating from Lync"): one partner object,
 * or an array of them (RFC 8259). A member's value is handed on as text: strings as they are,
 * numbers as written, true / false as PowerShell's "True" / "False", an array of strings as a
 * list; nested objects, other arrays and null only say what they were.
 */
#include "lync.h"

#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 64

struct json {
	struct s2sp_lync_out *o;
	const char *s;
	size_t len, pos;
	lua_Integer line;
	int depth;
};

static const char *fail(struct json *j, const char *what)
{
	return lua_pushfstring(j->o->L, "line %I: %s", (LUAI_UACINT)j->line, what);
}

static void ws(struct json *j)
{
	while (j->pos < j->len) {
		char ch = j->s[j->pos];

		if (ch == '\n')
			j->line++;
		else if (ch != ' ' && ch != '\t' && ch != '\r')
			return;
		j->pos++;
	}
}

static int peek(const struct json *j)
{
	return j->pos < j->len ? (unsigned char)j->s[j->pos] : -1;
}

/* Four hex digits at pos: the value, or -1. */
static long hex4(struct json *j)
{
	long v = 0;

	if (j->len - j->pos < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char ch = j->s[j->pos++];

		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v |= ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v |= ch - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* The code point of the \u escape whose 'u' was just read (with a low surrogate), or -1. */
static long unicode_escape(struct json *j)
{
	long hi = hex4(j), lo;

	if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF))
		return -1;
	if (hi < 0xD800 || hi > 0xDBFF)
		return hi;
	if (j->len - j->pos < 2 || j->s[j->pos] != '\\' || j->s[j->pos + 1] != 'u')
		return -1;
	j->pos += 2;
	lo = hex4(j);
	if (lo < 0xDC00 || lo > 0xDFFF)
		return -1;
	return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
}

/* The string at pos (at its '"'), pushed; NULL, or an error (pushed). */
static const char *string(struct json *j)
{
	static const char escapes[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
	luaL_Buffer b;

	j->pos++;
	luaL_buffinit(j->o->L, &b);
	for (;;) {
		unsigned char ch;

		if (j->pos >= j->len) {
			luaL_pushresult(&b);
			return fail(j, "a string is not closed");
		}
		ch = (unsigned char)j->s[j->pos++];
		if (ch == '"')
			break;
		if (ch < 0x20) {
			luaL_pushresult(&b);
			return fail(j, "a control character in a string");
		}
		if (ch != '\\') {
			luaL_addchar(&b, (char)ch);
			continue;
		}
		ch = j->pos < j->len ? (unsigned char)j->s[j->pos++] : 0;
		if (ch == 'u') {
			long cp = unicode_escape(j);

			if (cp <= 0) {
				luaL_pushresult(&b);
				return fail(j, "a bad \\u escape (or \\u0000) in a string");
			}
			s2sp_lync_add_utf8(&b, (uint32_t)cp);
			continue;
		}
		const char *e = ch != 0 ? memchr(escapes, ch, sizeof escapes - 1) : NULL;

		if (e == NULL || (e - escapes) % 2 != 0) {
			luaL_pushresult(&b);
			return fail(j, "a bad escape in a string");
		}
		luaL_addchar(&b, e[1]);
	}
	luaL_pushresult(&b);
	return NULL;
}

static int digits(struct json *j)
{
	size_t start = j->pos;

	while (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
		j->pos++;
	return j->pos > start;
}

/* The number at pos, pushed as written; NULL, or an error (pushed). */
static const char *number(struct json *j)
{
	size_t start = j->pos;

	if (peek(j) == '-')
		j->pos++;
	if (peek(j) == '0')
		j->pos++;
	else if (!digits(j))
		return fail(j, "a bad number");
	if (peek(j) == '.') {
		j->pos++;
		if (!digits(j))
			return fail(j, "a bad number");
	}
	if (peek(j) == 'e' || peek(j) == 'E') {
		j->pos++;
		if (peek(j) == '+' || peek(j) == '-')
			j->pos++;
		if (!digits(j))
			return fail(j, "a bad number");
	}
	lua_pushlstring(j->o->L, j->s + start, j->pos - start);
	return NULL;
}

static const char *value(struct json *j, enum s2sp_lync_kind *kind);

/* The object or array at pos (at its '{' or '['), pushed as described above. */
static const char *container(struct json *j, enum s2sp_lync_kind *kind)
{
	lua_State *L = j->o->L;
	char close = j->s[j->pos] == '{' ? '}' : ']';
	int strings = close == ']';
	lua_Integer n = 0;

	if (++j->depth > MAX_DEPTH)
		return fail(j, "nested too deeply");
	j->pos++;
	lua_newtable(L);
	ws(j);
	if (peek(j) == close) {
		j->pos++;
	} else {
		for (;;) {
			enum s2sp_lync_kind k;
			const char *err;

			ws(j);
			if (close == '}') {
				if (peek(j) != '"')
					return fail(j, "expected a member name");
				if ((err = string(j)) != NULL)
					return err;
				lua_pop(L, 1);
				ws(j);
				if (peek(j) != ':')
					return fail(j, "expected ':' after a member name");
				j->pos++;
			}
			if ((err = value(j, &k)) != NULL)
				return err;
			if (strings && k == S2SP_LYNC_STRING)
				lua_rawseti(L, -2, ++n);
			else
				lua_pop(L, 1), strings = 0;
			ws(j);
			if (peek(j) == close) {
				j->pos++;
				break;
			}
			if (peek(j) != ',')
				return fail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
			j->pos++;
		}
	}
	j->depth--;
	if (!strings) {
		lua_pop(L, 1);
		lua_pushliteral(L, "");
	}
	*kind = strings ? S2SP_LYNC_LIST : S2SP_LYNC_OBJECT;
	return NULL;
}

/* Any value at pos (after spaces), pushed; NULL, or an error (pushed). */
static const char *value(struct json *j, enum s2sp_lync_kind *kind)
{
	static const struct {
		const char *word, *text;
		enum s2sp_lync_kind kind;
	} words[] = {
		{ "true", "True", S2SP_LYNC_BOOLEAN },
		{ "false", "False", S2SP_LYNC_BOOLEAN },
		{ "null", "", S2SP_LYNC_NULL },
	};
	int ch;

	ws(j);
	ch = peek(j);
	if (ch == '"') {
		*kind = S2SP_LYNC_STRING;
		return string(j);
	}
	if (ch == '{' || ch == '[')
		return container(j, kind);
	if (ch == '-' || (ch >= '0' && ch <= '9')) {
		*kind = S2SP_LYNC_NUMBER;
		return number(j);
	}
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t n = strlen(words[i].word);

		if (j->len - j->pos >= n && memcmp(j->s + j->pos, words[i].word, n) == 0) {
			j->pos += n;
			lua_pushstring(j->o->L, words[i].text);
			*kind = words[i].kind;
			return NULL;
		}
	}
	return fail(j, "expected a value");
}

/* A partner object at pos (at its '{'): one row, a field per member. */
static const char *row(struct json *j)
{
	lua_State *L = j->o->L;
	const char *err;

	s2sp_lync_begin_row(j->o, j->line);
	j->pos++;
	ws(j);
	if (peek(j) == '}') {
		j->pos++;
		s2sp_lync_end_row(j->o);
		return NULL;
	}
	for (;;) {
		enum s2sp_lync_kind kind;
		const char *name;
		size_t nlen;

		ws(j);
		if (peek(j) != '"')
			return fail(j, "expected a member name");
		if ((err = string(j)) != NULL)
			return err;
		ws(j);
		if (peek(j) != ':')
			return fail(j, "expected ':' after a member name");
		j->pos++;
		if ((err = value(j, &kind)) != NULL)
			return err;
		name = lua_tolstring(L, -2, &nlen);
		s2sp_lync_add_field(j->o, name, nlen, kind);
		lua_pop(L, 1); /* the name */
		ws(j);
		if (peek(j) == '}') {
			j->pos++;
			break;
		}
		if (peek(j) != ',')
			return fail(j, "expected ',' or '}'");
		j->pos++;
	}
	s2sp_lync_end_row(j->o);
	return NULL;
}

const char *s2sp_lync_json(struct s2sp_lync_out *o, const char *s, size_t len)
{
	struct json j = { .o = o, .s = s, .len = len, .line = 1 };
	const char *err = NULL;

	ws(&j);
	if (peek(&j) == '{') {
		err = row(&j);
	} else if (peek(&j) == '[') {
		j.pos++;
		ws(&j);
		if (peek(&j) == ']') {
			j.pos++;
		} else {
			for (;;) {
				ws(&j);
				if (peek(&j) != '{')
					return fail(&j, "expected a partner object in the array");
				if ((err = row(&j)) != NULL)
					return err;
				ws(&j);
				if (peek(&j) == ']') {
					j.pos++;
					break;
				}
				if (peek(&j) != ',')
					return fail(&j, "expected ',' or ']'");
				j.pos++;
			}
		}
	} else {
		return fail(&j, "expected a partner object or an array of them");
	}
	if (err != NULL)
		return err;
	ws(&j);
	if (j.pos < j.len)
		return fail(&j, "text after the JSON value");
	return NULL;
}
