// fp64 and fp32 FMA chains on 256-bit registers (AVX2 + FMA3): acc = acc * m + c.
// One update: vfmadd231pd ymm = 4 lanes x 2 FLOP; vfmadd231ps ymm = 8 lanes x 2 FLOP.
#include "common/platform.h"
#include "peak/chain_values.h"
#include "peak/peak.h"

#if AK_X86
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_X86
template <int A, int U>
struct F64Ymm {
  AK_TARGET("avx2,fma") static void run(uint64_t iters, void* io, const void* ops) {
    double* p = static_cast<double*>(io);
    const double* o = static_cast<const double*>(ops);
    __m256d acc[A];
#pragma GCC unroll 32
    for (int a = 0; a < A; ++a) acc[a] = _mm256_loadu_pd(p + 4 * a);
    const __m256d m = _mm256_loadu_pd(o), c = _mm256_loadu_pd(o + 4);
    for (uint64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u)
#pragma GCC unroll 32
        for (int a = 0; a < A; ++a) acc[a] = _mm256_fmadd_pd(acc[a], m, c);
    }
#pragma GCC unroll 32
    for (int a = 0; a < A; ++a) _mm256_storeu_pd(p + 4 * a, acc[a]);
  }
};

template <int A, int U>
struct F32Ymm {
  AK_TARGET("avx2,fma") static void run(uint64_t iters, void* io, const void* ops) {
    float* p = static_cast<float*>(io);
    const float* o = static_cast<const float*>(ops);
    __m256 acc[A];
#pragma GCC unroll 32
    for (int a = 0; a < A; ++a) acc[a] = _mm256_loadu_ps(p + 8 * a);
    const __m256 m = _mm256_loadu_ps(o), c = _mm256_loadu_ps(o + 8);
    for (uint64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u)
#pragma GCC unroll 32
        for (int a = 0; a < A; ++a) acc[a] = _mm256_fmadd_ps(acc[a], m, c);
    }
#pragma GCC unroll 32
    for (int a = 0; a < A; ++a) _mm256_storeu_ps(p + 8 * a, acc[a]);
  }
};

// A pairs: acc[a] = acc[a] * m + c on the FMA pipes and acc[A + a] = c - acc[A + a] on the FP add pipes
// (cores with separate FADD pipes, as Zen's, run both at once); the same alternating value in both.
template <int A, int U>
struct F64YmmFmaAdd {
  AK_TARGET("avx2,fma") static void run(uint64_t iters, void* io, const void* ops) {
    double* p = static_cast<double*>(io);
    const double* o = static_cast<const double*>(ops);
    __m256d acc[2 * A];
#pragma GCC unroll 64
    for (int a = 0; a < 2 * A; ++a) acc[a] = _mm256_loadu_pd(p + 4 * a);
    const __m256d m = _mm256_loadu_pd(o), c = _mm256_loadu_pd(o + 4);
    for (uint64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u)
#pragma GCC unroll 32
        for (int a = 0; a < A; ++a) {
          acc[a] = _mm256_fmadd_pd(acc[a], m, c);
          acc[A + a] = _mm256_sub_pd(c, acc[A + a]);
        }
    }
#pragma GCC unroll 64
    for (int a = 0; a < 2 * A; ++a) _mm256_storeu_pd(p + 4 * a, acc[a]);
  }
};

// A pairs: acc[a] = acc[a] * m + c on the FMA pipes and acc[A + a] = c - acc[A + a] on the FP add pipes
// (cores with separate FADD pipes, as Zen's, run both at once); the same alternating value in both.
template <int A, int U>
struct F32YmmFmaAdd {
  AK_TARGET("avx2,fma") static void run(uint64_t iters, void* io, const void* ops) {
    float* p = static_cast<float*>(io);
    const float* o = static_cast<const float*>(ops);
    __m256 acc[2 * A];
#pragma GCC unroll 64
    for (int a = 0; a < 2 * A; ++a) acc[a] = _mm256_loadu_ps(p + 8 * a);
    const __m256 m = _mm256_loadu_ps(o), c = _mm256_loadu_ps(o + 8);
    for (uint64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u)
#pragma GCC unroll 32
        for (int a = 0; a < A; ++a) {
          acc[a] = _mm256_fmadd_ps(acc[a], m, c);
          acc[A + a] = _mm256_sub_ps(c, acc[A + a]);
        }
    }
#pragma GCC unroll 64
    for (int a = 0; a < 2 * A; ++a) _mm256_storeu_ps(p + 8 * a, acc[a]);
  }
};
#endif

void add_fma_avx2_kernels(std::vector<PeakKernel>& out) {
  PeakKernel d;
  d.name = "fp64_avx2_fma";
  d.dtype = "fp64";
  d.path = "avx2_fma";
  d.instruction = "vfmadd231pd ymm";
  d.isa = "AVX2+FMA3";
  d.features = "avx2,fma";
  d.ops_per_update = 8;
  d.acc_bytes = 32;
  d.operand_bytes = 64;
  d.value_type = "f64";
  d.check = "alternate";
  d.step = kAlternateC;
  d.init = [](void* acc, int a, void* ops) { fill_alternate<double>(acc, 4 * a, ops, 4); };
  PeakKernel s = d;
  s.name = "fp32_avx2_fma";
  s.dtype = "fp32";
  s.instruction = "vfmadd231ps ymm";
  s.ops_per_update = 16;
  s.operand_bytes = 64;
  s.value_type = "f32";
  s.init = [](void* acc, int a, void* ops) { fill_alternate<float>(acc, 8 * a, ops, 8); };
  PeakKernel dm = d;
  dm.name = "fp64_avx2_fma_add";
  dm.path = "avx2_fma_add";
  dm.instruction = "vfmadd231pd + vsubpd ymm (1:1)";
  dm.ops_per_update = 12;
  dm.instructions_per_update = 2;
  dm.acc_bytes = 64;
  dm.init = [](void* acc, int a, void* ops) { fill_alternate<double>(acc, 8 * a, ops, 4); };
  PeakKernel sm = s;
  sm.name = "fp32_avx2_fma_add";
  sm.path = "avx2_fma_add";
  sm.instruction = "vfmadd231ps + vsubps ymm (1:1)";
  sm.ops_per_update = 24;
  sm.instructions_per_update = 2;
  sm.acc_bytes = 64;
  sm.init = [](void* acc, int a, void* ops) { fill_alternate<float>(acc, 16 * a, ops, 8); };
#if AK_X86
  add_variants<F64YmmFmaAdd, 1, 2, 3, 4, 5, 6>(dm);
  add_variants<F64YmmFmaAdd, 2, 4, 6>(dm);
  add_variants<F32YmmFmaAdd, 1, 2, 3, 4, 5, 6>(sm);
  add_variants<F32YmmFmaAdd, 2, 4, 6>(sm);
  add_variants<F64Ymm, 1, 2, 4, 6, 8, 10, 12>(d);
  add_variants<F64Ymm, 2, 8, 10, 12>(d);
  add_variants<F32Ymm, 1, 2, 4, 6, 8, 10, 12>(s);
  add_variants<F32Ymm, 2, 8, 10, 12>(s);
#else
  d.built = s.built = dm.built = sm.built = false;
  d.why_not_built = s.why_not_built = dm.why_not_built = sm.why_not_built =
      "x86-64 kernel; this build is for another machine";
#endif
  out.push_back(d);
  out.push_back(s);
  out.push_back(dm);
  out.push_back(sm);
}

}  // namespace accelkern_cpu
