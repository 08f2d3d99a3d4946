// The one shape of a register-resident chain kernel: MULT x A accumulators of type VEC live in registers,
// each updated U times per loop pass by UPDATE (an expression of acc[a], the operands x and y, a and A),
// with the accumulators read with LOAD from and written back with STORE to `io` (ELEM* pointers; the ISA's
// own load and store keep them in registers, where a memcpy made GCC spill some) and the operands read from
// `ops` (x first). Each ISA file instantiates it with its own target string, so its intrinsics compile for
// that ISA alone.
#pragma once
#include <cstdint>
#include <cstring>

#include "common/platform.h"

#define AK_CHAIN_KERNEL(NAME, TARGET, VEC, ELEM, LOAD, STORE, OPVEC, MULT, UPDATE)              \
  template <int A, int U>                                                                        \
  struct NAME {                                                                                  \
    AK_TARGET(TARGET) static void run(uint64_t iters, void* io, const void* ops) {               \
      constexpr int N = (MULT) * A;                                                              \
      char* p = static_cast<char*>(io);                                                          \
      const char* o = static_cast<const char*>(ops);                                             \
      VEC acc[N];                                                                                \
      _Pragma("GCC unroll 64") for (int a = 0; a < N; ++a)                                       \
        acc[a] = LOAD(reinterpret_cast<const ELEM*>(p + sizeof(VEC) * a));                       \
      OPVEC x, y;                                                                                \
      std::memcpy(&x, o, sizeof(OPVEC));                                                         \
      std::memcpy(&y, o + sizeof(OPVEC), sizeof(OPVEC));                                         \
      for (uint64_t i = 0; i < iters; ++i) {                                                     \
        _Pragma("GCC unroll 8") for (int u = 0; u < U; ++u)                                      \
        _Pragma("GCC unroll 64") for (int a = 0; a < N; ++a) acc[a] = (UPDATE);                  \
      }                                                                                          \
      _Pragma("GCC unroll 64") for (int a = 0; a < N; ++a)                                       \
        STORE(reinterpret_cast<ELEM*>(p + sizeof(VEC) * a), acc[a]);                             \
    }                                                                                            \
  };
