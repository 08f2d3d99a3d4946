// bf16 dot-product chains (AVX512_BF16): acc(fp32) += a0*b0 + a1*b1 per lane.
// One update: vdpbf16ps zmm = 16 lanes x 2 products x 2 FLOP = 64 FLOP.
#include "common/platform.h"
#include "peak/chain.h"
#include "peak/chain_values.h"
#include "peak/peak.h"

#if AK_HAS_AVX512_BF16
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_HAS_AVX512_BF16
AK_CHAIN_KERNEL(Bf16Zmm, "avx512f,avx512bf16", __m512, float, _mm512_loadu_ps, _mm512_storeu_ps,
                __m512bh, 1, _mm512_dpbf16_ps(acc[a], x, y))
#endif

void add_bf16_avx512_kernels(std::vector<PeakKernel>& out) {
  PeakKernel k;
  k.name = "bf16_avx512_bf16";
  k.dtype = "bf16";
  k.path = "avx512_bf16";
  k.instruction = "vdpbf16ps zmm";
  k.isa = "AVX512_BF16";
  k.features = "avx512f,avx512bf16";
  k.ops_per_update = 64;
  k.acc_bytes = 64;
  k.operand_bytes = 128;
  k.value_type = "f32";
  k.check = "add";
  k.step = 2 * kAddUnit;
  k.step_part = kAddUnit;
  k.init = [](void* acc, int a, void* ops) { fill_bf16_dot(acc, 16 * a, ops, 32); };
#if AK_HAS_AVX512_BF16
  add_variants<Bf16Zmm, 1, 4, 8, 12, 16, 20, 24>(k);
  add_variants<Bf16Zmm, 2, 8, 12, 16, 24>(k);
#else
  k.built = false;
  k.why_not_built = AK_X86 ? "the compiler lacks AVX512_BF16 intrinsics (GCC 10+ or clang 9+ needed)"
                           : "x86-64 kernel; this build is for another machine";
#endif
  out.push_back(k);
}

}  // namespace accelkern_cpu
