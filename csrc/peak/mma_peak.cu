// mma.sync compute peak: every warp keeps CHAINS independent accumulator fragments and issues, per loop
// iteration and chain, kStepsPerIter mma.sync alternating two B fragments (B0, B1). For timing the host
// passes B1 = -B0 so the accumulators stay bounded; for the check it passes random B1, and one iteration
// computes D = C + A.B0 + A.B1 per chain, which proves the fragment layouts.
// The e4m3/e5m2 forms exist only in the sm_89+ binary, f64 m16n8k16 only in the sm_90+ one (here: the
// sm_90a cubin); elsewhere they trap.
// sm_90 has no fp8 mma.sync instruction: ptxas emulates it (F2FP unpack to f16, two HMMA.16816 into
// zero, FADD into the accumulator), which it can hoist out of the loop and share between chains when
// the operands repeat. Ops marked kVary therefore get per-chain A and a new B every step (plus `flip`,
// a run-time zero the compiler cannot see), so every emulated mma really runs.
// Every chain starts from C ^ (flip * chain), so no two chains are provably equal either.
#include "peak/peak_common.cuh"

namespace accelkern {
namespace {

constexpr int kMmaStepsPerIter = 8;  // per chain: B0, B1, B0, B1, ...

// f32 accumulator, four registers; A four words, B two words.
#define AK_MMA_F32_4_2(NAME, PTX)                                                                      \
  struct NAME {                                                                                        \
    using Acc = float;                                                                                 \
    static constexpr int kA = 4, kB = 2, kC = 4, kCWords = 4;                                          \
    static constexpr bool kVary = false;                                                               \
    __device__ __forceinline__ static void mma(Acc (&d)[kC], const uint32_t (&a)[kA],                 \
                                               const uint32_t (&b)[kB]) {                              \
      asm volatile(PTX " {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"              \
                   : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                    \
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));                \
    }                                                                                                  \
  };

AK_MMA_F32_4_2(MmaF16F32, "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32")
AK_MMA_F32_4_2(MmaBf16F32, "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32")
AK_MMA_F32_4_2(MmaTf32F32, "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32")
#undef AK_MMA_F32_4_2

struct MmaF16F16 {
  using Acc = uint32_t;  // f16x2
  static constexpr int kA = 4, kB = 2, kC = 2, kCWords = 2;
  static constexpr bool kVary = false;
  __device__ __forceinline__ static void mma(Acc (&d)[kC], const uint32_t (&a)[kA], const uint32_t (&b)[kB]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f16.f16.f16.f16 {%0, %1}, {%2, %3, %4, %5}, {%6, %7}, {%0, %1};"
                 : "+r"(d[0]), "+r"(d[1])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

struct MmaS8S32 {
  using Acc = int;
  static constexpr int kA = 4, kB = 2, kC = 4, kCWords = 4;
  static constexpr bool kVary = false;
  __device__ __forceinline__ static void mma(Acc (&d)[kC], const uint32_t (&a)[kA], const uint32_t (&b)[kB]) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

template <bool kE5m2>
struct MmaF8F32 {
  using Acc = float;
  static constexpr int kA = 4, kB = 2, kC = 4, kCWords = 4;
  static constexpr bool kVary = true;  // emulated on sm_90 (see top)
  __device__ __forceinline__ static void mma(Acc (&d)[kC], const uint32_t (&a)[kA], const uint32_t (&b)[kB]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    if constexpr (kE5m2) {
      asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e5m2.e5m2.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                   "{%8, %9}, {%0, %1, %2, %3};"
                   : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    } else {
      asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                   "{%8, %9}, {%0, %1, %2, %3};"
                   : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
#else
    __trap();  // no fp8 mma.sync below sm_89; the host never launches this binary
#endif
  }
};

struct MmaF64F64 {
  using Acc = double;
  static constexpr int kA = 2, kB = 2, kC = 2, kCWords = 4;  // words: one f64 A, one f64 B, two f64 C
  static constexpr bool kVary = false;
  __device__ __forceinline__ static void mma(Acc (&d)[kC], const uint32_t (&a)[kA], const uint32_t (&b)[kB]) {
    const double av = __hiloint2double(static_cast<int>(a[1]), static_cast<int>(a[0]));
    const double bv = __hiloint2double(static_cast<int>(b[1]), static_cast<int>(b[0]));
    asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0, %1}, {%2}, {%3}, {%0, %1};"
                 : "+d"(d[0]), "+d"(d[1])
                 : "d"(av), "d"(bv));
  }
};

// f64 m16n8k16 (sm_90+): per lane 8 f64 of A, 4 of B, 4 of C; on Hopper the full-rate DMMA shape, where
// m8n8k4 reaches only part of the fp64 tensor rate.
struct MmaF64F64K16 {
  using Acc = double;
  static constexpr int kA = 16, kB = 8, kC = 4, kCWords = 8;  // words: 8 f64 A, 4 f64 B, 4 f64 C
  static constexpr bool kVary = false;
  __device__ __forceinline__ static void mma(Acc (&d)[kC], const uint32_t (&a)[kA], const uint32_t (&b)[kB]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    double av[8], bv[4];
#pragma unroll
    for (int i = 0; i < 8; ++i) av[i] = __hiloint2double(static_cast<int>(a[2 * i + 1]), static_cast<int>(a[2 * i]));
#pragma unroll
    for (int i = 0; i < 4; ++i) bv[i] = __hiloint2double(static_cast<int>(b[2 * i + 1]), static_cast<int>(b[2 * i]));
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f64.f64.f64.f64 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7, %8, %9, %10, %11}, {%12, %13, %14, %15}, {%0, %1, %2, %3};"
                 : "+d"(d[0]), "+d"(d[1]), "+d"(d[2]), "+d"(d[3])
                 : "d"(av[0]), "d"(av[1]), "d"(av[2]), "d"(av[3]), "d"(av[4]), "d"(av[5]), "d"(av[6]), "d"(av[7]),
                   "d"(bv[0]), "d"(bv[1]), "d"(bv[2]), "d"(bv[3]));
#else
    __trap();  // no f64 m16n8k16 below sm_90; the host never launches this binary
#endif
  }
};

template <class Acc>
__device__ __forceinline__ void acc_from_words(Acc& v, const uint32_t* p, uint32_t x) {
  if constexpr (sizeof(Acc) == 8) {
    v = __hiloint2double(static_cast<int>(p[1] ^ x), static_cast<int>(p[0]));
  } else {
    uint32_t w = p[0] ^ x;
    memcpy(&v, &w, 4);
  }
}

template <class Acc>
__device__ __forceinline__ void acc_to_words(uint32_t* p, Acc v) {
  if constexpr (sizeof(Acc) == 8) {
    p[0] = static_cast<uint32_t>(__double2loint(v));
    p[1] = static_cast<uint32_t>(__double2hiint(v));
  } else {
    uint32_t w;
    memcpy(&w, &v, 4);
    p[0] = w;
  }
}

template <class Op, int CHAINS>
__global__ void mma_peak_kernel(const uint32_t* __restrict__ frags, int iters, int check, uint32_t flip,
                                uint32_t* __restrict__ out, long long* __restrict__ clocks) {
  using Acc = typename Op::Acc;
  constexpr int kAccWords = Op::kCWords / Op::kC;
  constexpr int kLaneWords = Op::kA + 2 * Op::kB + Op::kCWords;
  constexpr int kAChains = Op::kVary ? CHAINS : 1;  // A copies: one per chain when operands must vary
  const int lane = threadIdx.x & 31;
  const uint32_t* f = frags + lane * kLaneWords;

  uint32_t a[kAChains][Op::kA], b0[Op::kB], b1[Op::kB];
#pragma unroll
  for (int k = 0; k < kAChains; ++k) {
#pragma unroll
    for (int i = 0; i < Op::kA; ++i) a[k][i] = f[i] ^ (flip * k);
  }
#pragma unroll
  for (int i = 0; i < Op::kB; ++i) {
    b0[i] = f[Op::kA + i];
    b1[i] = f[Op::kA + Op::kB + i];
  }
  Acc acc[CHAINS][Op::kC];
#pragma unroll
  for (int k = 0; k < CHAINS; ++k) {
#pragma unroll
    for (int r = 0; r < Op::kC; ++r) {
      acc_from_words(acc[k][r], f + Op::kA + 2 * Op::kB + r * kAccWords, flip * k);
    }
  }

  peak_detail::record_clock(clocks, 0);
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int s = 0; s < kMmaStepsPerIter; s += 2) {
#pragma unroll
      for (int k = 0; k < CHAINS; ++k) Op::mma(acc[k], a[Op::kVary ? k : 0], b0);
#pragma unroll
      for (int k = 0; k < CHAINS; ++k) Op::mma(acc[k], a[Op::kVary ? k : 0], b1);
      if constexpr (Op::kVary) {
#pragma unroll
        for (int j = 0; j < Op::kB; ++j) {
          b0[j] += flip;
          b1[j] += flip;
        }
      }
    }
  }
  peak_detail::record_clock(clocks, 1);

  if (check) {
    const size_t warp = (size_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
#pragma unroll
    for (int k = 0; k < CHAINS; ++k) {
      uint32_t* o = out + ((warp * CHAINS + k) * 32 + lane) * Op::kCWords;
#pragma unroll
      for (int r = 0; r < Op::kC; ++r) acc_to_words(o + r * kAccWords, acc[k][r]);
    }
  } else {
    uint32_t x = 0;
#pragma unroll
    for (int k = 0; k < CHAINS; ++k) {
#pragma unroll
      for (int r = 0; r < Op::kC; ++r) {
        uint32_t w[2] = {0, 0};
        acc_to_words(w, acc[k][r]);
        x ^= w[0] ^ w[1];
      }
    }
    out[size_t(blockIdx.x) * blockDim.x + threadIdx.x] = x;
  }
}

using MmaKernel = void (*)(const uint32_t*, int, int, uint32_t, uint32_t*, long long*);

template <class Op>
MmaKernel pick_chains(int chains) {
  switch (chains) {
    case 2: return mma_peak_kernel<Op, 2>;
    case 4: return mma_peak_kernel<Op, 4>;
    case 8: return mma_peak_kernel<Op, 8>;
    default: return nullptr;
  }
}

MmaKernel pick(MmaOp op, int chains) {
  MmaKernel k = nullptr;
  switch (op) {
    case MmaOp::kF16F32: k = pick_chains<MmaF16F32>(chains); break;
    case MmaOp::kF16F16: k = pick_chains<MmaF16F16>(chains); break;
    case MmaOp::kBf16F32: k = pick_chains<MmaBf16F32>(chains); break;
    case MmaOp::kTf32F32: k = pick_chains<MmaTf32F32>(chains); break;
    case MmaOp::kS8S32: k = pick_chains<MmaS8S32>(chains); break;
    case MmaOp::kE4m3F32: k = pick_chains<MmaF8F32<false>>(chains); break;
    case MmaOp::kE5m2F32: k = pick_chains<MmaF8F32<true>>(chains); break;
    case MmaOp::kF64F64: k = pick_chains<MmaF64F64>(chains); break;
    case MmaOp::kF64F64K16: k = pick_chains<MmaF64F64K16>(chains); break;
    default: break;
  }
  AK_REQUIRE(k != nullptr, "mma.sync peak: unknown op or chains not in {2, 4, 8}");
  return k;
}

}  // namespace

bool mma_chains_supported(int chains) { return chains == 2 || chains == 4 || chains == 8; }

void mma_fragment_words(MmaOp op, int* a_words, int* b_words, int* c_words) {
  switch (op) {
    case MmaOp::kF16F16: *a_words = 4; *b_words = 2; *c_words = 2; return;
    case MmaOp::kF64F64: *a_words = 2; *b_words = 2; *c_words = 4; return;
    case MmaOp::kF64F64K16: *a_words = 16; *b_words = 8; *c_words = 8; return;
    case MmaOp::kF16F32: case MmaOp::kBf16F32: case MmaOp::kTf32F32: case MmaOp::kS8S32:
    case MmaOp::kE4m3F32: case MmaOp::kE5m2F32:
      *a_words = 4; *b_words = 2; *c_words = 4; return;
    default: AK_REQUIRE(false, "mma.sync peak: unknown op");
  }
}

void launch_mma_peak(MmaOp op, int chains, int ctas, int warps, int iters, int check, const uint32_t* frags,
                     uint32_t* out, long long* clocks, cudaStream_t stream) {
  MmaKernel k = pick(op, chains);
  AK_REQUIRE(ctas > 0 && warps > 0 && warps <= 32, "mma.sync peak: need ctas > 0 and 1..32 warps per CTA");
  AK_REQUIRE(iters >= 0, "mma.sync peak: iters must be >= 0");
  AK_REQUIRE(frags != nullptr && out != nullptr, "mma.sync peak: frags and out must be device pointers");
  k<<<ctas, warps * 32, 0, stream>>>(frags, iters, check, 0u, out, clocks);
  AK_CHECK_LAUNCH();
}

PeakKernelInfo mma_peak_info(MmaOp op, int chains, int warps) {
  return peak_detail::kernel_info(pick(op, chains), warps * 32, 0, kMmaStepsPerIter);
}

}  // namespace accelkern
