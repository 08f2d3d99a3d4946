// read: a checksum of the buffer (32-bit word sum mod 2^32, plus trailing bytes) stored per block, so no
// load can be dropped and the result is exact: it is checked bit for bit against a torch reduction.
// Same tiling as copy: UNROLL independent VEC-byte loads per thread are issued before any is summed.
#include "memory/memory_common.cuh"

namespace accelkern {
namespace mem {

__device__ __forceinline__ uint32_t word_sum(unsigned int v) { return v; }
__device__ __forceinline__ uint32_t word_sum(uint2 v) { return v.x + v.y; }
__device__ __forceinline__ uint32_t word_sum(uint4 v) { return (v.x + v.y) + (v.z + v.w); }

// Sum over the block (blockDim a multiple of 32); the result is valid in thread 0.
__device__ __forceinline__ uint32_t block_sum(uint32_t v) {
  __shared__ uint32_t warp_sums[32];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (blockDim.x >> 5) ? warp_sums[lane] : 0u;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  }
  return v;
}

template <int VEC, int UNROLL, int HINT>
__global__ void read_kernel(const unsigned char* __restrict__ src, size_t n_bytes, int passes,
                            uint32_t* __restrict__ partials) {
  using V = typename Vec<VEC>::U;
  const V* __restrict__ s = reinterpret_cast<const V*>(src);
  const uint32_t* __restrict__ w = reinterpret_cast<const uint32_t*>(src);
  const size_t n_vec = n_bytes / VEC;
  const unsigned tile = blockDim.x * UNROLL;
  const size_t n_tiles = n_vec / tile;
  uint32_t acc = 0;
  for_tiles(n_tiles, passes, [&](size_t t) {
    const size_t base = t * tile + threadIdx.x;
    V v[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) v[u] = ld<HINT>(s + base + u * blockDim.x);
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) acc += word_sum(v[u]);
  });
  const size_t done = n_tiles * tile;
  for_items(n_vec - done, passes, [&](size_t i) { acc += word_sum(ld<HINT>(s + done + i)); });
  const size_t words_done = n_vec * (VEC / 4), n_words = n_bytes / 4;
  for_items(n_words - words_done, passes, [&](size_t i) { acc += ld<HINT>(w + words_done + i); });
  const size_t tail = n_words * 4;
  for_items(n_bytes - tail, passes, [&](size_t i) { acc += ld<HINT>(src + tail + i); });
  acc = block_sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

struct ReadK {
  template <int VEC, int UNROLL, int HINT>
  static const void* ptr() {
    return reinterpret_cast<const void*>(&read_kernel<VEC, UNROLL, HINT>);
  }
};

const void* read_kernel_ptr(int vec, int unroll, int hint) { return pick<ReadK>(vec, unroll, hint); }

}  // namespace mem

void launch_mem_read(const void* src, size_t n_bytes, uint32_t* partials, const MemLaunch& l, cudaStream_t stream) {
  const void* k = mem::checked_kernel(mem::read_kernel_ptr(l.vec, l.unroll, l.hint), l, "read");
  AK_REQUIRE(mem::aligned(src, l.vec) && mem::aligned(partials, 4), "read: src must be aligned to vec bytes");
  auto s = static_cast<const unsigned char*>(src);
  int passes = l.passes;
  void* args[] = {&s, &n_bytes, &passes, &partials};
  // launched even for 0 bytes: every partial is written (0), so the result is always defined
  AK_CUDA_CHECK(cudaLaunchKernel(k, dim3(l.blocks), dim3(l.threads), args, 0, stream));
}

}  // namespace accelkern
