// Included first by every memory kernel file: the compiler must emit the loop written, never a call to its
// own memcpy/memset in place of a copy or fill loop (GCC's loop distribution, clang's idiom recognition),
// or the row would time glibc instead of the kernel it names.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

#if defined(__clang__)
#define AK_NO_LIBCALL __attribute__((no_builtin))
#else
#define AK_NO_LIBCALL
#endif
