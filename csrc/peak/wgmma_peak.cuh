// wgmma compute peak (sm_90a): each warpgroup keeps CHAINS accumulator tiles (64 x N) in registers
// and, per loop iteration, issues for every chain the 4 k-steps of one 128-byte K tile of A and B,
// then commits the group and waits until at most one group is in flight, so the tensor cores never
// drain. A and B are copied once from `image` into shared memory before the clock starts; nothing
// else touches memory until the end. For timing the host fills the K tile so that the 4 k-steps sum
// to ~0 (B k-steps 2,3 = -(0,1), A 2,3 = A 0,1), keeping the accumulators bounded; for the check one
// iteration on random A, B, C gives D = C + A.B over K = 128 bytes, proving descriptors and layouts.
// Chain k starts from C ^ (flip * k), flip being a run-time zero, so no two chains are provably equal.
// Included only by *_sm90a.cu files.
#pragma once

#include "peak/peak_common.cuh"
#include "peak/wgmma_desc.h"
#include "peak/wgmma_ops.cuh"

namespace accelkern {
namespace wgmma_detail {

constexpr int kWgmmaKSteps = 4;          // k-steps per 128-byte K tile
constexpr int kMaxWarpgroups = 2;        // per CTA
constexpr int kSmemAlign = 1024;         // 128B-swizzle patterns repeat every 1024 bytes

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}
// Ties a register to the surrounding volatile asm order, so reads of accumulators are not moved
// above the wait that completes them (and writes not below the fence that publishes them).
__device__ __forceinline__ void fence_operand(float& r) { asm volatile("" : "+f"(r)::"memory"); }
__device__ __forceinline__ void fence_operand(int& r) { asm volatile("" : "+r"(r)::"memory"); }

__device__ __forceinline__ float acc_from_bits(uint32_t w, float) { return __uint_as_float(w); }
__device__ __forceinline__ int acc_from_bits(uint32_t w, int) { return static_cast<int>(w); }
__device__ __forceinline__ uint32_t acc_bits(float v) { return __float_as_uint(v); }
__device__ __forceinline__ uint32_t acc_bits(int v) { return static_cast<uint32_t>(v); }

template <class Op, int N, bool RS, int CHAINS>
__global__ void __launch_bounds__(128 * kMaxWarpgroups)
    wgmma_peak_kernel(const uint8_t* __restrict__ image, WgmmaSmemLayout lay, const uint32_t* __restrict__ a_frags,
                      const uint32_t* __restrict__ c_frags, int iters, int check, uint32_t flip,
                      uint32_t* __restrict__ out, long long* __restrict__ clocks) {
  constexpr int R = N / 2;
  using Acc = typename Op::Acc;
  extern __shared__ __align__(16) uint8_t smem_raw[];
  const uint32_t raw_addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  const uint32_t pad = (kSmemAlign - (raw_addr & (kSmemAlign - 1))) & (kSmemAlign - 1);
  uint8_t* smem = smem_raw + pad;
  const uint32_t base = raw_addr + pad;

  const uint32_t total = lay.a_bytes + lay.b_bytes;
  for (uint32_t i = threadIdx.x * 16; i < total; i += blockDim.x * 16) {
    *reinterpret_cast<uint4*>(smem + i) = *reinterpret_cast<const uint4*>(image + i);
  }
  // ordinary stores are read next by the tensor cores (async proxy)
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
  __syncthreads();

  const int t = threadIdx.x & 127;
  const int wg = threadIdx.x >> 7;
  Acc acc[CHAINS][R];
#pragma unroll
  for (int k = 0; k < CHAINS; ++k) {
#pragma unroll
    for (int r = 0; r < R; ++r) acc[k][r] = acc_from_bits(c_frags[t * R + r] ^ (flip * k), Acc{});
  }
  uint32_t a[kWgmmaKSteps][4];
  if constexpr (RS) {
#pragma unroll
    for (int s = 0; s < kWgmmaKSteps; ++s) {
#pragma unroll
      for (int i = 0; i < 4; ++i) a[s][i] = a_frags[t * 16 + s * 4 + i];
    }
  }
  uint64_t desc_a[kWgmmaKSteps], desc_b[kWgmmaKSteps];
#pragma unroll
  for (int s = 0; s < kWgmmaKSteps; ++s) {
    desc_a[s] = wgmma_descriptor(base + s * lay.a_kstep, lay.a_lbo, lay.a_sbo, lay.swizzle);
    desc_b[s] = wgmma_descriptor(base + lay.a_bytes + s * lay.b_kstep, lay.b_lbo, lay.b_sbo, lay.swizzle);
  }

  peak_detail::record_clock(clocks, 0);
#pragma unroll
  for (int k = 0; k < CHAINS; ++k) {
#pragma unroll
    for (int r = 0; r < R; ++r) fence_operand(acc[k][r]);
  }
  wgmma_fence();
  for (int it = 0; it < iters; ++it) {
#pragma unroll
    for (int s = 0; s < kWgmmaKSteps; ++s) {
#pragma unroll
      for (int k = 0; k < CHAINS; ++k) {
        if constexpr (RS) {
          Op::rs(acc[k], a[s], desc_b[s], 1);
        } else {
          Op::ss(acc[k], desc_a[s], desc_b[s], 1);
        }
      }
    }
    wgmma_commit();
    wgmma_wait<1>();
  }
  // every group was committed inside the loop: an empty commit here would make ptxas emit a dummy
  // HGMMA through a null descriptor (shared address 0)
  wgmma_wait<0>();
#pragma unroll
  for (int k = 0; k < CHAINS; ++k) {
#pragma unroll
    for (int r = 0; r < R; ++r) fence_operand(acc[k][r]);
  }
  peak_detail::record_clock(clocks, 1);

  if (check) {
#pragma unroll
    for (int k = 0; k < CHAINS; ++k) {
      uint32_t* o = out + ((size_t(blockIdx.x) * (blockDim.x >> 7) + wg) * CHAINS + k) * 128 * R + t * R;
#pragma unroll
      for (int r = 0; r < R; ++r) o[r] = acc_bits(acc[k][r]);
    }
  } else {
    uint32_t x = 0;
#pragma unroll
    for (int k = 0; k < CHAINS; ++k) {
#pragma unroll
      for (int r = 0; r < R; ++r) x ^= acc_bits(acc[k][r]);
    }
    out[size_t(blockIdx.x) * blockDim.x + threadIdx.x] = x;
  }
}

using WgmmaKernel = void (*)(const uint8_t*, WgmmaSmemLayout, const uint32_t*, const uint32_t*, int, int,
                             uint32_t, uint32_t*, long long*);

// The instantiated (N, chains) pairs; both operand sources for each. Keep this list short: every
// entry is 2 kernels per type to compile.
template <class Op>
WgmmaKernel pick_config(int n, bool rs, int chains) {
  if (n == 64 && chains == 2) return rs ? wgmma_peak_kernel<Op, 64, true, 2> : wgmma_peak_kernel<Op, 64, false, 2>;
  if (n == 128 && chains == 1) return rs ? wgmma_peak_kernel<Op, 128, true, 1> : wgmma_peak_kernel<Op, 128, false, 1>;
  if (n == 128 && chains == 2) return rs ? wgmma_peak_kernel<Op, 128, true, 2> : wgmma_peak_kernel<Op, 128, false, 2>;
  if (n == 256 && chains == 1) return rs ? wgmma_peak_kernel<Op, 256, true, 1> : wgmma_peak_kernel<Op, 256, false, 1>;
  return nullptr;
}

// defined per type family in wgmma_{16bit,tf32,8bit}_sm90a.cu
WgmmaKernel pick_16bit(WgmmaOp op, int n, bool rs, int chains);
WgmmaKernel pick_tf32(WgmmaOp op, int n, bool rs, int chains);
WgmmaKernel pick_8bit(WgmmaOp op, int n, bool rs, int chains);

}  // namespace wgmma_detail
}  // namespace accelkern
