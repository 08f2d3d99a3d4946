// Shared device code of the memory kernels: vector types, cache-hinted accesses, the grid-wide work
// split and the (vec, unroll, hint) -> kernel instantiation table. Included by the memory .cu files only.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "common/check.h"
#include "memory/memory.h"

namespace accelkern {
namespace mem {

template <int VEC>
struct Vec;
template <>
struct Vec<4> {
  using U = unsigned int;
  using F = float;
};
template <>
struct Vec<8> {
  using U = uint2;
  using F = float2;
};
template <>
struct Vec<16> {
  using U = uint4;
  using F = float4;
};

// kHintStream: ld.global.cs / st.global.cs, "cache streaming, likely accessed once" (evict-first in L1 and L2).
// kHintL2: ld.global.cg / st.global.cg, "cache at global level" (L2, not L1; SASS LDG.E.*.STRONG.GPU).
// kHintDefault: plain accesses (loads through a const __restrict__ pointer become LDG.E.*.CONSTANT, L1-cached).
template <int HINT, typename T>
__device__ __forceinline__ T ld(const T* p) {
  if constexpr (HINT == kHintStream) {
    return __ldcs(p);
  } else if constexpr (HINT == kHintL2) {
    return __ldcg(p);
  } else {
    return *p;
  }
}

template <int HINT, typename T>
__device__ __forceinline__ void st(T* p, T v) {
  if constexpr (HINT == kHintStream) {
    __stcs(p, v);
  } else if constexpr (HINT == kHintL2) {
    __stcg(p, v);
  } else {
    *p = v;
  }
}

// Calls f(t) for every tile t < n_tiles, `passes` times over. One pass: tiles dealt round-robin to the blocks
// (grid-stride, neighbouring blocks on neighbouring tiles). passes > 1: the sequence v = 0 .. passes*n_tiles-1
// (tile v % n_tiles) is cut into one contiguous run per block, so every tile is done exactly `passes` times,
// small buffers still occupy every block, and a block visits all n_tiles tiles before any twice (round-robin
// dealing would give block b only the tiles b + k*gridDim mod n_tiles, re-read from its SM's L1).
// accelkern/memory/schedule.py models this arithmetic; the tests check it.
template <class F>
__device__ __forceinline__ void for_tiles(size_t n_tiles, int passes, F&& f) {
  if (passes == 1) {
    for (size_t t = blockIdx.x; t < n_tiles; t += gridDim.x) f(t);
    return;
  }
  if (n_tiles == 0) return;
  const size_t total = n_tiles * size_t(passes), blocks = gridDim.x, b = blockIdx.x;
  const size_t per = total / blocks, extra = total % blocks;
  const size_t first = b * per + (b < extra ? b : extra);  // no b * total product: no 64-bit overflow
  const size_t count = per + (b < extra ? 1 : 0);
  size_t t = first % n_tiles;
  for (size_t i = 0; i < count; ++i) {
    f(t);
    if (++t == n_tiles) t = 0;
  }
}

// Calls f(i) for every i < n, `passes` times over, one item per thread of the whole grid at a time.
template <class F>
__device__ __forceinline__ void for_items(size_t n, int passes, F&& f) {
  if (n == 0) return;
  const size_t total = n * size_t(passes);
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t v = size_t(blockIdx.x) * blockDim.x + threadIdx.x; v < total; v += stride) f(passes == 1 ? v : v % n);
}

// Kernel instantiation table. K::ptr<VEC, UNROLL, HINT>() returns the kernel's address; nullptr = not built.
template <class K, int VEC, int UNROLL>
const void* pick_hint(int hint) {
  switch (hint) {
    case kHintDefault: return K::template ptr<VEC, UNROLL, kHintDefault>();
    case kHintStream: return K::template ptr<VEC, UNROLL, kHintStream>();
    case kHintL2: return K::template ptr<VEC, UNROLL, kHintL2>();
    default: return nullptr;
  }
}

template <class K, int VEC>
const void* pick_unroll(int unroll, int hint) {
  switch (unroll) {
    case 1: return pick_hint<K, VEC, 1>(hint);
    case 2: return pick_hint<K, VEC, 2>(hint);
    case 4: return pick_hint<K, VEC, 4>(hint);
    case 8: return pick_hint<K, VEC, 8>(hint);
    default: return nullptr;
  }
}

template <class K>
const void* pick(int vec, int unroll, int hint) {
  switch (vec) {
    case 4: return pick_unroll<K, 4>(unroll, hint);
    case 8: return pick_unroll<K, 8>(unroll, hint);
    case 16: return pick_unroll<K, 16>(unroll, hint);
    default: return nullptr;
  }
}

// The kernel for a launch, after checking the launch fields; throws naming what is allowed.
const void* checked_kernel(const void* kernel, const MemLaunch& l, const char* what);

inline bool aligned(const void* p, int vec) { return reinterpret_cast<uintptr_t>(p) % uintptr_t(vec) == 0; }

// Per-family tables, defined in each family's .cu.
const void* copy_kernel_ptr(int vec, int unroll, int hint);
const void* read_kernel_ptr(int vec, int unroll, int hint);
const void* write_kernel_ptr(int vec, int unroll, int hint);
const void* triad_kernel_ptr(int vec, int unroll, int hint);

}  // namespace mem
}  // namespace accelkern
