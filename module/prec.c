/*
 * mod_s2s_partners — the string arena of compact partner records (prec.h).
 */
#include "prec.h"

#include <stdlib.h>
#include <string.h>

int s2sp_arena_append(struct s2sp_arena *a, const char *s, size_t len, int nul, uint32_t *off)
{
	size_t need = len + (nul ? 1 : 0);

	if (need > UINT32_MAX - a->len)
		return -1;
	if (a->data == NULL || a->len + need > a->cap) {
		size_t cap = a->cap != 0 ? a->cap : 4096;
		char *grown;

		while (cap < a->len + need)
			cap *= 2;
		grown = realloc(a->data, cap);
		if (grown == NULL)
			return -1;
		a->data = grown;
		a->cap = cap;
	}
	if (len > 0)
		memcpy(a->data + a->len, s, len);
	if (nul)
		a->data[a->len + len] = '\0';
	*off = (uint32_t)a->len;
	a->len += need;
	return 0;
}

void s2sp_arena_free(struct s2sp_arena *a)
{
	free(a->data);
	memset(a, 0, sizeof *a);
}
