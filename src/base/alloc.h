/* alloc.h -- the one allocator of libtbwal, replaceable so tests can fail
 * the Nth allocation (as SQLite's OOM tests and libgit2's cl_alloc_limit do).
 *
 * Every allocation inside the library goes through these; none calls
 * malloc() directly. They never record an error: callers that get NULL
 * report TBW_ENOMEM with their operation and path.
 */
#ifndef TBW_ALLOC_H
#define TBW_ALLOC_H

#include <stddef.h>

void *tbw__malloc(size_t n);
void *tbw__calloc(size_t count, size_t n);
void *tbw__realloc(void *p, size_t n);
char *tbw__strdup(const char *s);
void  tbw__free(void *p);                 /* NULL is a no-op */

/* Fault injection (tests only). After tbw__alloc_fail_at(n, persist), the nth
 * allocation from now fails (n = 1: the very next one), and with persist every
 * one after it too. n = 0 turns injection off. Allocations are counted only while armed:
 * arm with (unsigned long)-1 to count without failing, then read
 * tbw__alloc_count() to learn how far a fail-at-N walk must go. */
void   tbw__alloc_fail_at(unsigned long n, int persist);
unsigned long tbw__alloc_count(void);
unsigned long tbw__alloc_failures(void);  /* injected failures so far */

#endif
