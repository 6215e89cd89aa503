/*
 * time() that returns the same second for the whole process (stanza_callgrind_bench.lua): Lua
 * seeds its string hashes with time(NULL) and addresses, which valgrind keeps the same from one
 * run to the next, so every server the bench starts hashes alike and its instruction counts
 * compare. The second is S2SP_FIXED_TIME's (the bench's start), so certificates stay valid.
 */
#include <stdlib.h>
#include <time.h>

time_t time(time_t *out)
{
	static time_t fixed;

	if (fixed == 0) {
		const char *s = getenv("S2SP_FIXED_TIME");

		fixed = s != NULL ? (time_t)strtoll(s, NULL, 10) : 1;
	}
	if (out != NULL)
		*out = fixed;
	return fixed;
}
