// write: fills the buffer with a non-zero 32-bit pattern (little-endian words; a trailing partial word
// gets the pattern's low bytes), VEC-byte stores, UNROLL stores per thread per tile.
#include "memory/memory_common.cuh"

namespace accelkern {
namespace mem {

template <typename V>
__device__ __forceinline__ V splat(uint32_t p);
template <>
__device__ __forceinline__ unsigned int splat<unsigned int>(uint32_t p) { return p; }
template <>
__device__ __forceinline__ uint2 splat<uint2>(uint32_t p) { return make_uint2(p, p); }
template <>
__device__ __forceinline__ uint4 splat<uint4>(uint32_t p) { return make_uint4(p, p, p, p); }

template <int VEC, int UNROLL, int HINT>
__global__ void write_kernel(unsigned char* __restrict__ dst, size_t n_bytes, int passes, uint32_t pattern) {
  using V = typename Vec<VEC>::U;
  V* __restrict__ d = reinterpret_cast<V*>(dst);
  const V v = splat<V>(pattern);
  const size_t n_vec = n_bytes / VEC;
  const unsigned tile = blockDim.x * UNROLL;
  const size_t n_tiles = n_vec / tile;
  for_tiles(n_tiles, passes, [&](size_t t) {
    const size_t base = t * tile + threadIdx.x;
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) st<HINT>(d + base + u * blockDim.x, v);
  });
  const size_t done = n_tiles * tile;
  for_items(n_vec - done, passes, [&](size_t i) { st<HINT>(d + done + i, v); });
  const size_t tail = n_vec * VEC;  // a multiple of 4, so byte i of the buffer is byte (i % 4) of the pattern
  for_items(n_bytes - tail, passes,
            [&](size_t i) { st<HINT>(dst + tail + i, static_cast<unsigned char>(pattern >> (8 * ((tail + i) & 3)))); });
}

struct WriteK {
  template <int VEC, int UNROLL, int HINT>
  static const void* ptr() {
    return reinterpret_cast<const void*>(&write_kernel<VEC, UNROLL, HINT>);
  }
};

const void* write_kernel_ptr(int vec, int unroll, int hint) { return pick<WriteK>(vec, unroll, hint); }

}  // namespace mem

void launch_mem_write(void* dst, size_t n_bytes, uint32_t pattern, const MemLaunch& l, cudaStream_t stream) {
  const void* k = mem::checked_kernel(mem::write_kernel_ptr(l.vec, l.unroll, l.hint), l, "write");
  AK_REQUIRE(mem::aligned(dst, l.vec), "write: dst must be aligned to vec bytes");
  if (n_bytes == 0) return;
  auto d = static_cast<unsigned char*>(dst);
  int passes = l.passes;
  void* args[] = {&d, &n_bytes, &passes, &pattern};
  AK_CUDA_CHECK(cudaLaunchKernel(k, dim3(l.blocks), dim3(l.threads), args, 0, stream));
}

}  // namespace accelkern
