// triad (STREAM): a = b + s * c in fp32, one fused multiply-add per element. Each thread loads UNROLL
// vectors of b and UNROLL of c (2 * UNROLL independent loads) before it stores any result.
#include "memory/memory_common.cuh"

namespace accelkern {
namespace mem {

__device__ __forceinline__ float fma_vec(float s, float c, float b) { return fmaf(s, c, b); }
__device__ __forceinline__ float2 fma_vec(float s, float2 c, float2 b) {
  return make_float2(fmaf(s, c.x, b.x), fmaf(s, c.y, b.y));
}
__device__ __forceinline__ float4 fma_vec(float s, float4 c, float4 b) {
  return make_float4(fmaf(s, c.x, b.x), fmaf(s, c.y, b.y), fmaf(s, c.z, b.z), fmaf(s, c.w, b.w));
}

template <int VEC, int UNROLL, int HINT>
__global__ void triad_kernel(float* __restrict__ a, const float* __restrict__ b, const float* __restrict__ c,
                             float s, size_t n, int passes) {
  using V = typename Vec<VEC>::F;
  constexpr int PER = VEC / 4;  // floats per vector
  V* __restrict__ av = reinterpret_cast<V*>(a);
  const V* __restrict__ bv = reinterpret_cast<const V*>(b);
  const V* __restrict__ cv = reinterpret_cast<const V*>(c);
  const size_t n_vec = n / PER;
  const unsigned tile = blockDim.x * UNROLL;
  const size_t n_tiles = n_vec / tile;
  for_tiles(n_tiles, passes, [&](size_t t) {
    const size_t base = t * tile + threadIdx.x;
    V x[UNROLL], y[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) x[u] = ld<HINT>(bv + base + u * blockDim.x);
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) y[u] = ld<HINT>(cv + base + u * blockDim.x);
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) st<HINT>(av + base + u * blockDim.x, fma_vec(s, y[u], x[u]));
  });
  const size_t done = n_tiles * tile;
  for_items(n_vec - done, passes, [&](size_t i) {
    st<HINT>(av + done + i, fma_vec(s, ld<HINT>(cv + done + i), ld<HINT>(bv + done + i)));
  });
  const size_t tail = n_vec * PER;
  for_items(n - tail, passes,
            [&](size_t i) { st<HINT>(a + tail + i, fmaf(s, ld<HINT>(c + tail + i), ld<HINT>(b + tail + i))); });
}

struct TriadK {
  template <int VEC, int UNROLL, int HINT>
  static const void* ptr() {
    return reinterpret_cast<const void*>(&triad_kernel<VEC, UNROLL, HINT>);
  }
};

const void* triad_kernel_ptr(int vec, int unroll, int hint) { return pick<TriadK>(vec, unroll, hint); }

}  // namespace mem

void launch_mem_triad(float* a, const float* b, const float* c, float s, size_t n_elems, const MemLaunch& l,
                      cudaStream_t stream) {
  const void* k = mem::checked_kernel(mem::triad_kernel_ptr(l.vec, l.unroll, l.hint), l, "triad");
  AK_REQUIRE(mem::aligned(a, l.vec) && mem::aligned(b, l.vec) && mem::aligned(c, l.vec),
             "triad: a, b and c must be aligned to vec bytes");
  if (n_elems == 0) return;
  int passes = l.passes;
  void* args[] = {&a, &b, &c, &s, &n_elems, &passes};
  AK_CUDA_CHECK(cudaLaunchKernel(k, dim3(l.blocks), dim3(l.threads), args, 0, stream));
}

}  // namespace accelkern
