// fp16 FMA chains (AVX512_FP16, Sapphire Rapids and later): acc = acc * m + c in fp16.
// One update: vfmadd231ph zmm = 32 lanes x 2 FLOP = 64 FLOP.
#include "common/platform.h"
#include "peak/chain.h"
#include "peak/chain_values.h"
#include "peak/peak.h"

#if AK_HAS_AVX512_FP16
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_HAS_AVX512_FP16
AK_CHAIN_KERNEL(F16Zmm, "avx512f,avx512bw,avx512vl,avx512fp16", __m512h, void, _mm512_loadu_ph, _mm512_storeu_ph,
                __m512h, 1,
                _mm512_fmadd_ph(acc[a], x, y))
#endif

static void fill_half_alternate(void* acc, int accumulators, void* ops) {
  auto* a = static_cast<uint16_t*>(acc);
  for (int i = 0; i < 32 * accumulators; ++i) a[i] = half_one_plus_k64(i % 64);
  auto* o = static_cast<uint16_t*>(ops);
  for (int i = 0; i < 32; ++i) {
    o[i] = kHalfMinusOne;
    o[32 + i] = kHalfThree;
  }
}

void add_fp16_avx512_kernels(std::vector<PeakKernel>& out) {
  PeakKernel k;
  k.name = "fp16_avx512_fp16";
  k.dtype = "fp16";
  k.path = "avx512_fp16";
  k.instruction = "vfmadd231ph zmm";
  k.isa = "AVX512_FP16";
  k.features = "avx512f,avx512bw,avx512vl,avx512fp16";
  k.ops_per_update = 64;
  k.acc_bytes = 64;
  k.operand_bytes = 128;
  k.value_type = "f16";
  k.check = "alternate";
  k.step = kAlternateC;
  k.init = fill_half_alternate;
#if AK_HAS_AVX512_FP16
  add_variants<F16Zmm, 1, 4, 8, 12, 16, 20, 24>(k);
  add_variants<F16Zmm, 2, 8, 12, 16, 24>(k);
#else
  k.built = false;
  k.why_not_built = AK_X86 ? "the compiler lacks AVX512_FP16 intrinsics (GCC 12+ or clang 14+ needed)"
                           : "x86-64 kernel; this build is for another machine";
#endif
  out.push_back(k);
}

}  // namespace accelkern_cpu
