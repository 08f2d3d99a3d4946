// fp64 and fp32 FMA chains on 512-bit registers (AVX-512F): acc = acc * m + c.
// One update: vfmadd231pd zmm = 8 lanes x 2 FLOP; vfmadd231ps zmm = 16 lanes x 2 FLOP.
#include "common/platform.h"
#include "peak/chain.h"
#include "peak/chain_values.h"
#include "peak/peak.h"

#if AK_X86
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_X86
AK_CHAIN_KERNEL(F64Zmm, "avx512f", __m512d, double, _mm512_loadu_pd, _mm512_storeu_pd,
                __m512d, 1, _mm512_fmadd_pd(acc[a], x, y))
AK_CHAIN_KERNEL(F32Zmm, "avx512f", __m512, float, _mm512_loadu_ps, _mm512_storeu_ps,
                __m512, 1, _mm512_fmadd_ps(acc[a], x, y))
// A pairs: acc[a] = acc[a] * m + c on the FMA pipes and acc[A + a] = c - acc[A + a] on the FP add pipes
// (cores with separate FADD pipes, as Zen's, run both at once); the same alternating value in both.
AK_CHAIN_KERNEL(F64ZmmFmaAdd, "avx512f", __m512d, double, _mm512_loadu_pd, _mm512_storeu_pd, __m512d, 2,
                a < A ? _mm512_fmadd_pd(acc[a], x, y) : _mm512_sub_pd(y, acc[a]))
AK_CHAIN_KERNEL(F32ZmmFmaAdd, "avx512f", __m512, float, _mm512_loadu_ps, _mm512_storeu_ps, __m512, 2,
                a < A ? _mm512_fmadd_ps(acc[a], x, y) : _mm512_sub_ps(y, acc[a]))
#endif

void add_fma_avx512_kernels(std::vector<PeakKernel>& out) {
  PeakKernel d;
  d.name = "fp64_avx512_fma";
  d.dtype = "fp64";
  d.path = "avx512_fma";
  d.instruction = "vfmadd231pd zmm";
  d.isa = "AVX-512F";
  d.features = "avx512f";
  d.ops_per_update = 16;
  d.acc_bytes = 64;
  d.operand_bytes = 128;
  d.value_type = "f64";
  d.check = "alternate";
  d.step = kAlternateC;
  d.init = [](void* acc, int a, void* ops) { fill_alternate<double>(acc, 8 * a, ops, 8); };
  PeakKernel s = d;
  s.name = "fp32_avx512_fma";
  s.dtype = "fp32";
  s.instruction = "vfmadd231ps zmm";
  s.ops_per_update = 32;
  s.value_type = "f32";
  s.init = [](void* acc, int a, void* ops) { fill_alternate<float>(acc, 16 * a, ops, 16); };
  PeakKernel dm = d;
  dm.name = "fp64_avx512_fma_add";
  dm.path = "avx512_fma_add";
  dm.instruction = "vfmadd231pd + vsubpd zmm (1:1)";
  dm.ops_per_update = 24;
  dm.instructions_per_update = 2;
  dm.acc_bytes = 128;
  dm.init = [](void* acc, int a, void* ops) { fill_alternate<double>(acc, 16 * a, ops, 8); };
  PeakKernel sm = s;
  sm.name = "fp32_avx512_fma_add";
  sm.path = "avx512_fma_add";
  sm.instruction = "vfmadd231ps + vsubps zmm (1:1)";
  sm.ops_per_update = 48;
  sm.instructions_per_update = 2;
  sm.acc_bytes = 128;
  sm.init = [](void* acc, int a, void* ops) { fill_alternate<float>(acc, 32 * a, ops, 16); };
#if AK_X86
  add_variants<F64ZmmFmaAdd, 1, 4, 6, 8, 10, 12>(dm);
  add_variants<F64ZmmFmaAdd, 2, 6, 8, 12>(dm);
  add_variants<F32ZmmFmaAdd, 1, 4, 6, 8, 10, 12>(sm);
  add_variants<F32ZmmFmaAdd, 2, 6, 8, 12>(sm);
  add_variants<F64Zmm, 1, 4, 8, 12, 16, 20, 24>(d);
  add_variants<F64Zmm, 2, 8, 12, 16, 24>(d);
  add_variants<F32Zmm, 1, 4, 8, 12, 16, 20, 24>(s);
  add_variants<F32Zmm, 2, 8, 12, 16, 24>(s);
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
