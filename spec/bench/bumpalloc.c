/*
 * malloc that never reuses memory (stanza_callgrind_bench.lua, S2SP_BENCH_CG_ALLOC=bump): each
 * allocation takes the next bytes of a mapping and free() does nothing, so what an allocation
 * costs in instructions is the same whatever was allocated and freed before it. With glibc's
 * malloc that cost follows the heap's state (which bin, a split, a consolidation), and the heap a
 * server has after loading a module differs from one load to the next: a stanza's ~60
 * allocations then cost more or fewer instructions, on every path and whatever the module does.
 *
 * For a process that allocates a bounded amount (the bench's server: a few GiB under valgrind);
 * every allocation is 16-byte aligned, with its size and a magic word in the 16 bytes before it. A pointer that
 * was not allocated here (the dynamic loader's, before this library) is realloc'd by the next
 * malloc in line and never freed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK ((size_t)256 << 20) /* mapped at a time */
#define HEADER ((size_t)16)

static char *next, *end;
static volatile char lock;
#define MAGIC ((size_t)0x5332535042554d50u) /* in each header, after the size */

static void *take(size_t size, size_t align)
{
	char *p;

	if (size > SIZE_MAX - HEADER - align - CHUNK) {
		errno = ENOMEM;
		return NULL;
	}
	while (__atomic_test_and_set(&lock, __ATOMIC_ACQUIRE))
		;
	p = next == NULL ? NULL : (char *)(((uintptr_t)next + HEADER + align - 1) & ~(uintptr_t)(align - 1));
	if (p == NULL || p + size > end) {
		size_t len = size + HEADER + align > CHUNK ? size + HEADER + align : CHUNK;
		char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (m == MAP_FAILED) {
			__atomic_clear(&lock, __ATOMIC_RELEASE);
			errno = ENOMEM;
			return NULL;
		}
		next = m, end = m + len;
		p = (char *)(((uintptr_t)next + HEADER + align - 1) & ~(uintptr_t)(align - 1));
	}
	next = p + size;
	__atomic_clear(&lock, __ATOMIC_RELEASE);
	((size_t *)p)[-2] = size, ((size_t *)p)[-1] = MAGIC; /* mmap'd memory is zero: calloc needs no more */
	return p;
}

/* The same instructions for every pointer: a foreign one has no header, and what precedes it
 * (the loader's own small heap) is readable. */
static int ours(const void *p) { return ((const size_t *)p)[-1] == MAGIC; }

void *malloc(size_t size) { return take(size, 16); }

void free(void *p) { (void)p; }

void *calloc(size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return take(n * size, 16);
}

void *realloc(void *old, size_t size)
{
	void *p;

	if (old == NULL)
		return take(size, 16);
	if (!ours(old)) {
		void *(*next_realloc)(void *, size_t) = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");

		return next_realloc(old, size);
	}
	if (size <= ((size_t *)old)[-2])
		return old;
	p = take(size, 16);
	if (p != NULL)
		memcpy(p, old, ((size_t *)old)[-2]);
	return p;
}

void *reallocarray(void *old, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, n * size);
}

static int power_of_two(size_t a) { return a != 0 && (a & (a - 1)) == 0; }

void *aligned_alloc(size_t align, size_t size)
{
	if (!power_of_two(align)) {
		errno = EINVAL;
		return NULL;
	}
	return take(size, align < 16 ? 16 : align);
}

void *memalign(size_t align, size_t size) { return aligned_alloc(align, size); }

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (!power_of_two(align) || align % sizeof(void *) != 0)
		return EINVAL;
	p = take(size, align < 16 ? 16 : align);
	if (p == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

void *valloc(size_t size) { return take(size, 4096); }

void *pvalloc(size_t size) { return take((size + 4095) & ~(size_t)4095, 4096); }

size_t malloc_usable_size(void *p) { return p != NULL && ours(p) ? ((size_t *)p)[-2] : 0; }
