// copy: dst = src over any byte count. Each thread loads UNROLL independent VEC-byte vectors before it
// stores any, so UNROLL * VEC bytes per thread are in flight; a block's tile is blockDim * UNROLL vectors
// of contiguous memory; vectors past the last whole tile and the < VEC trailing bytes are done after.
#include "memory/memory_common.cuh"

namespace accelkern {
namespace mem {

template <int VEC, int UNROLL, int HINT>
__global__ void copy_kernel(const unsigned char* __restrict__ src, unsigned char* __restrict__ dst, size_t n_bytes,
                            int passes) {
  using V = typename Vec<VEC>::U;
  const V* __restrict__ s = reinterpret_cast<const V*>(src);
  V* __restrict__ d = reinterpret_cast<V*>(dst);
  const size_t n_vec = n_bytes / VEC;
  const unsigned tile = blockDim.x * UNROLL;
  const size_t n_tiles = n_vec / tile;
  for_tiles(n_tiles, passes, [&](size_t t) {
    const size_t base = t * tile + threadIdx.x;
    V v[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) v[u] = ld<HINT>(s + base + u * blockDim.x);
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) st<HINT>(d + base + u * blockDim.x, v[u]);
  });
  const size_t done = n_tiles * tile;
  for_items(n_vec - done, passes, [&](size_t i) { st<HINT>(d + done + i, ld<HINT>(s + done + i)); });
  const size_t tail = n_vec * VEC;
  for_items(n_bytes - tail, passes, [&](size_t i) { st<HINT>(dst + tail + i, ld<HINT>(src + tail + i)); });
}

struct CopyK {
  template <int VEC, int UNROLL, int HINT>
  static const void* ptr() {
    return reinterpret_cast<const void*>(&copy_kernel<VEC, UNROLL, HINT>);
  }
};

const void* copy_kernel_ptr(int vec, int unroll, int hint) { return pick<CopyK>(vec, unroll, hint); }

}  // namespace mem

void launch_mem_copy(const void* src, void* dst, size_t n_bytes, const MemLaunch& l, cudaStream_t stream) {
  const void* k = mem::checked_kernel(mem::copy_kernel_ptr(l.vec, l.unroll, l.hint), l, "copy");
  AK_REQUIRE(mem::aligned(src, l.vec) && mem::aligned(dst, l.vec), "copy: src and dst must be aligned to vec bytes");
  if (n_bytes == 0) return;
  auto s = static_cast<const unsigned char*>(src);
  auto d = static_cast<unsigned char*>(dst);
  int passes = l.passes;
  void* args[] = {&s, &d, &n_bytes, &passes};
  AK_CUDA_CHECK(cudaLaunchKernel(k, dim3(l.blocks), dim3(l.threads), args, 0, stream));
}

}  // namespace accelkern
