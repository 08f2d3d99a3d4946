// bf16 dot-product chains (AVX512_BF16): acc(fp32) += a0*b0 + a1*b1 per lane.
// One update: vdpbf16ps zmm = 16 lanes x 2 products x 2 FLOP = 64 FLOP.
#include "common/platform.h"
#include "peak/chain_values.h"
#include "peak/peak.h"

#if AK_HAS_AVX512_BF16
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_HAS_AVX512_BF16
template <int A, int U>
struct Bf16Zmm {
  AK_TARGET("avx512f,avx512bf16") static void run(uint64_t iters, void* io, const void* ops) {
    float* p = static_cast<float*>(io);
    const char* o = static_cast<const char*>(ops);
    __m512 acc[A];
#pragma GCC unroll 32
    for (int a = 0; a < A; ++a) acc[a] = _mm512_loadu_ps(p + 16 * a);
    const __m512bh x = (__m512bh)_mm512_loadu_si512(o), y = (__m512bh)_mm512_loadu_si512(o + 64);
    for (uint64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u)
#pragma GCC unroll 32
        for (int a = 0; a < A; ++a) acc[a] = _mm512_dpbf16_ps(acc[a], x, y);
    }
#pragma GCC unroll 32
    for (int a = 0; a < A; ++a) _mm512_storeu_ps(p + 16 * a, acc[a]);
  }
};
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
