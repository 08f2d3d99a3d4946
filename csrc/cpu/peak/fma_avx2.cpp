// fp64 and fp32 FMA chains on 256-bit registers (AVX2 + FMA3): acc = acc * m + c.
// One update: vfmadd231pd ymm = 4 lanes x 2 FLOP; vfmadd231ps ymm = 8 lanes x 2 FLOP.
#include "common/platform.h"
#include "peak/chain.h"
#include "peak/chain_values.h"
#include "peak/peak.h"

#if AK_X86
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_X86
AK_CHAIN_KERNEL(F64Ymm, "avx2,fma", __m256d, double, _mm256_loadu_pd, _mm256_storeu_pd,
                __m256d, 1, _mm256_fmadd_pd(acc[a], x, y))
AK_CHAIN_KERNEL(F32Ymm, "avx2,fma", __m256, float, _mm256_loadu_ps, _mm256_storeu_ps,
                __m256, 1, _mm256_fmadd_ps(acc[a], x, y))
// A pairs: acc[a] = acc[a] * m + c on the FMA pipes and acc[A + a] = c - acc[A + a] on the FP add pipes
// (cores with separate FADD pipes, as Zen's, run both at once); the same alternating value in both.
AK_CHAIN_KERNEL(F64YmmFmaAdd, "avx2,fma", __m256d, double, _mm256_loadu_pd, _mm256_storeu_pd, __m256d, 2,
                a < A ? _mm256_fmadd_pd(acc[a], x, y) : _mm256_sub_pd(y, acc[a]))
AK_CHAIN_KERNEL(F32YmmFmaAdd, "avx2,fma", __m256, float, _mm256_loadu_ps, _mm256_storeu_ps, __m256, 2,
                a < A ? _mm256_fmadd_ps(acc[a], x, y) : _mm256_sub_ps(y, acc[a]))
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
