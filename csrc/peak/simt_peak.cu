// SIMT compute peak: x = fma(x, m, c) on CHAINS independent register accumulators per thread.
// m and c come from memory at run time and every step is an opaque PTX instruction, so nothing can be
// folded; all chains are combined and stored once at the end, so nothing is dead.
#include "peak/peak_common.cuh"

namespace accelkern {
namespace {

constexpr int kSimtStepsPerIter = 256;  // instructions per thread per loop iteration (all chains)

struct SimtFp32 {
  using T = float;
  static constexpr int kWords = 1;
  __device__ static T load(const uint32_t* p) { return __uint_as_float(p[0]); }
  __device__ static void store(uint32_t* p, T v) { p[0] = __float_as_uint(v); }
  __device__ static uint32_t bits(T v) { return __float_as_uint(v); }
  __device__ __forceinline__ static void step(T& x, T m, T c) {
    asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(x) : "f"(m), "f"(c));
  }
};

struct SimtFp64 {
  using T = double;
  static constexpr int kWords = 2;
  __device__ static T load(const uint32_t* p) {
    return __hiloint2double(static_cast<int>(p[1]), static_cast<int>(p[0]));
  }
  __device__ static void store(uint32_t* p, T v) {
    p[0] = static_cast<uint32_t>(__double2loint(v));
    p[1] = static_cast<uint32_t>(__double2hiint(v));
  }
  __device__ static uint32_t bits(T v) {
    return static_cast<uint32_t>(__double2loint(v)) ^ static_cast<uint32_t>(__double2hiint(v));
  }
  __device__ __forceinline__ static void step(T& x, T m, T c) {
    asm volatile("fma.rn.f64 %0, %0, %1, %2;" : "+d"(x) : "d"(m), "d"(c));
  }
};

// 32-bit register holding two packed 16-bit values (or one int32)
template <int kind>
struct SimtWord {
  using T = uint32_t;
  static constexpr int kWords = 1;
  __device__ static T load(const uint32_t* p) { return p[0]; }
  __device__ static void store(uint32_t* p, T v) { p[0] = v; }
  __device__ static uint32_t bits(T v) { return v; }
  __device__ __forceinline__ static void step(T& x, T m, T c) {
    if constexpr (kind == 0) {
      asm volatile("fma.rn.f16x2 %0, %0, %1, %2;" : "+r"(x) : "r"(m), "r"(c));
    } else if constexpr (kind == 1) {
      asm volatile("fma.rn.bf16x2 %0, %0, %1, %2;" : "+r"(x) : "r"(m), "r"(c));
    } else {
      asm volatile("mad.lo.s32 %0, %0, %1, %2;" : "+r"(x) : "r"(m), "r"(c));
    }
  }
};
using SimtFp16x2 = SimtWord<0>;
using SimtBf16x2 = SimtWord<1>;
using SimtInt32 = SimtWord<2>;

template <class Op, int CHAINS>
__global__ void simt_peak_kernel(const uint32_t* __restrict__ params, int iters, int check,
                                 uint32_t* __restrict__ out, long long* __restrict__ clocks) {
  using T = typename Op::T;
  constexpr int W = Op::kWords;
  T acc[CHAINS];
#pragma unroll
  for (int k = 0; k < CHAINS; ++k) acc[k] = Op::load(params + k * W);
  const T m = Op::load(params + CHAINS * W);
  const T c = Op::load(params + (CHAINS + 1) * W);

  peak_detail::record_clock(clocks, 0);
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int u = 0; u < kSimtStepsPerIter / CHAINS; ++u) {
#pragma unroll
      for (int k = 0; k < CHAINS; ++k) Op::step(acc[k], m, c);
    }
  }
  peak_detail::record_clock(clocks, 1);

  const size_t tid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (check) {
#pragma unroll
    for (int k = 0; k < CHAINS; ++k) Op::store(out + (tid * CHAINS + k) * W, acc[k]);
  } else {
    uint32_t x = 0;
#pragma unroll
    for (int k = 0; k < CHAINS; ++k) x ^= Op::bits(acc[k]);
    out[tid] = x;
  }
}

using SimtKernel = void (*)(const uint32_t*, int, int, uint32_t*, long long*);

template <class Op>
SimtKernel pick_chains(int chains) {
  switch (chains) {
    case 4: return simt_peak_kernel<Op, 4>;
    case 8: return simt_peak_kernel<Op, 8>;
    case 16: return simt_peak_kernel<Op, 16>;
    default: return nullptr;
  }
}

SimtKernel pick(SimtOp op, int chains) {
  SimtKernel k = nullptr;
  switch (op) {
    case SimtOp::kFp32: k = pick_chains<SimtFp32>(chains); break;
    case SimtOp::kFp64: k = pick_chains<SimtFp64>(chains); break;
    case SimtOp::kFp16x2: k = pick_chains<SimtFp16x2>(chains); break;
    case SimtOp::kBf16x2: k = pick_chains<SimtBf16x2>(chains); break;
    case SimtOp::kInt32: k = pick_chains<SimtInt32>(chains); break;
    default: break;
  }
  AK_REQUIRE(k != nullptr, "SIMT peak: unknown op or chains not in {4, 8, 16}");
  return k;
}

}  // namespace

bool simt_chains_supported(int chains) { return chains == 4 || chains == 8 || chains == 16; }

void launch_simt_peak(SimtOp op, int chains, int ctas, int threads, int iters, int check, const uint32_t* params,
                      uint32_t* out, long long* clocks, cudaStream_t stream) {
  SimtKernel k = pick(op, chains);
  AK_REQUIRE(ctas > 0 && threads > 0 && threads % 32 == 0 && threads <= 1024,
             "SIMT peak: need ctas > 0 and threads a multiple of 32 up to 1024");
  AK_REQUIRE(iters >= 0, "SIMT peak: iters must be >= 0");
  AK_REQUIRE(params != nullptr && out != nullptr, "SIMT peak: params and out must be device pointers");
  k<<<ctas, threads, 0, stream>>>(params, iters, check, out, clocks);
  AK_CHECK_LAUNCH();
}

PeakKernelInfo simt_peak_info(SimtOp op, int chains, int threads) {
  return peak_detail::kernel_info(pick(op, chains), threads, 0, kSimtStepsPerIter / chains);
}

}  // namespace accelkern
