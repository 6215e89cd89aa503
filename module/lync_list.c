/*
 * mod_s2s_partners — the console's Format-List output (README "Migrating from Lync"): one
 * block of "Property : Value" lines per partner, blocks separated by blank lines. Names start
 * the line and are padded to one column; a value longer than the console is wide goes on in
 * the following lines, indented, and is joined back. Values are trimmed of the padding.
 */
#include "lync.h"

struct list {
	struct s2sp_lync_out *o;
	const char *s;
	size_t len;
	const char *name; /* the pending property: its value is on top of the stack */
	size_t name_len;
};

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int is_name_char(char ch, int first)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (!first && ((ch >= '0' && ch <= '9') || ch == '_'));
}

/* Hand the pending property to the open row. */
static void flush(struct list *l)
{
	if (l->name == NULL)
		return;
	s2sp_lync_add_field(l->o, l->name, l->name_len, S2SP_LYNC_STRING);
	l->name = NULL;
}

/* Push s[a..b) without the spaces at either end. */
static void push_trimmed(lua_State *L, const char *s, size_t a, size_t b)
{
	while (a < b && is_space(s[a]))
		a++;
	while (b > a && is_space(s[b - 1]))
		b--;
	lua_pushlstring(L, s + a, b - a);
}

/* If line s[a..b) is "Name : value" (a name at a, spaces, ':' then a space or the end), set
 * *name_end and *value_start and return 1. */
static int property(const char *s, size_t a, size_t b, size_t *name_end, size_t *value_start)
{
	size_t i = a;

	if (i >= b || !is_name_char(s[i], 1))
		return 0;
	while (i < b && is_name_char(s[i], 0))
		i++;
	*name_end = i;
	while (i < b && is_space(s[i]))
		i++;
	if (i >= b || s[i] != ':' || (i + 1 < b && !is_space(s[i + 1])))
		return 0;
	*value_start = i + 1;
	return 1;
}

/* One line s[a..b) (without its line end), numbered line. */
static const char *line(struct list *l, size_t a, size_t b, lua_Integer number)
{
	lua_State *L = l->o->L;
	size_t i = a, name_end, value_start;

	while (i < b && is_space(l->s[i]))
		i++;
	if (i == b) { /* blank: the block ends */
		flush(l);
		if (l->o->row != 0)
			s2sp_lync_end_row(l->o);
		return NULL;
	}
	if (i > a && l->name != NULL) { /* indented: the pending value goes on */
		push_trimmed(L, l->s, i, b);
		lua_concat(L, 2);
		return NULL;
	}
	if (!property(l->s, i, b, &name_end, &value_start))
		return lua_pushfstring(L, "line %I: expected \"Property : Value\"",
				       (LUAI_UACINT)number);
	flush(l);
	if (l->o->row == 0)
		s2sp_lync_begin_row(l->o, number);
	push_trimmed(L, l->s, value_start, b);
	l->name = l->s + i;
	l->name_len = name_end - i;
	return NULL;
}

const char *s2sp_lync_list(struct s2sp_lync_out *o, const char *s, size_t len)
{
	struct list l = { .o = o, .s = s, .len = len };
	lua_Integer number = 1;
	size_t a = 0;

	while (a < len) {
		size_t b = a, next;
		const char *err;

		while (b < len && s[b] != '\n' && s[b] != '\r')
			b++;
		next = b;
		if (next < len && s[next] == '\r')
			next++;
		if (next < len && s[next] == '\n')
			next++;
		err = line(&l, a, b, number++);
		if (err != NULL)
			return err;
		a = next;
	}
	flush(&l);
	if (o->row != 0)
		s2sp_lync_end_row(o);
	return NULL;
}
