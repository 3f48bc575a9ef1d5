/* fuzz_common.h -- shared by the libFuzzer targets in fuzz/ and by their
 * replay drivers in make check: the libFuzzer entry point, temporary
 * directories, and an rm -rf that never follows symlinks.
 */
#ifndef TBW_FUZZ_COMMON_H
#define TBW_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Each target defines this (libFuzzer's entry point). Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message (a finding: the fuzzer reports it as a crash). */
#define FUZZ_CHECK(cond, ...) \
	do { if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); } while (0)
void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));

/* A fresh directory "<TMPDIR or /tmp>/tbw_fuzz_<name>.XXXXXX" in buf. Aborts on failure. */
void fuzz_mkdtemp(char *buf, size_t cap, const char *name);
/* rm -rf path (symlinks are removed, never followed). */
void fuzz_rmrf(const char *path);
/* Write a whole file (created or truncated). Aborts on failure. */
void fuzz_write_file(const char *path, const void *data, size_t n);

/* snprintf that aborts if the result does not fit (paths under a short
 * temporary folder always do). */
void fuzz_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Little-endian helpers. */
uint32_t fuzz_le32(const uint8_t *p);
uint64_t fuzz_le64(const uint8_t *p);
void fuzz_put_le32(uint8_t *p, uint32_t v);
void fuzz_put_le64(uint8_t *p, uint64_t v);

#endif
