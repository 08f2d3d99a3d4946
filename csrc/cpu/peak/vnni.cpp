// int8 dot products with VNNI: vpdpbusd (u8 x s8, four products summed into each int32 lane).
// One update: ymm (AVX-VNNI) = 8 lanes x 4 x 2 = 64 ops; zmm (AVX512_VNNI) = 128 ops.
#include "common/platform.h"
#include "peak/chain.h"
#include "peak/chain_values.h"
#include "peak/peak.h"

#if AK_X86
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_X86
AK_CHAIN_KERNEL(VnniZmm, "avx512f,avx512vnni", __m512i, void, _mm512_loadu_si512, _mm512_storeu_si512,
                __m512i, 1, _mm512_dpbusd_epi32(acc[a], x, y))
#endif
#if AK_HAS_AVX_VNNI
AK_CHAIN_KERNEL(VnniYmm, "avx2,avxvnni", __m256i, __m256i, _mm256_loadu_si256, _mm256_storeu_si256,
                __m256i, 1, _mm256_dpbusd_avx_epi32(acc[a], x, y))
#endif

void add_vnni_kernels(std::vector<PeakKernel>& out) {
  PeakKernel z;
  z.name = "int8_avx512_vnni";
  z.dtype = "int8";
  z.path = "avx512_vnni";
  z.instruction = "vpdpbusd zmm";
  z.isa = "AVX512_VNNI";
  z.features = "avx512f,avx512vnni";
  z.ops_per_update = 128;
  z.acc_bytes = 64;
  z.operand_bytes = 128;
  z.value_type = "i32";
  z.check = "wrap32";
  z.step = 4.0 * kInt8A * kInt8B;
  z.init = [](void* acc, int a, void* ops) { fill_int8(acc, 16 * a, ops, 64); };
  PeakKernel y = z;
  y.name = "int8_avx_vnni";
  y.path = "avx_vnni";
  y.instruction = "vpdpbusd ymm (VEX)";
  y.isa = "AVX-VNNI";
  y.features = "avx2,avxvnni";
  y.ops_per_update = 64;
  y.acc_bytes = 32;
  y.operand_bytes = 64;
  y.init = [](void* acc, int a, void* ops) { fill_int8(acc, 8 * a, ops, 32); };
#if AK_X86
  add_variants<VnniZmm, 1, 4, 8, 12, 16, 20, 24>(z);
  add_variants<VnniZmm, 2, 8, 12, 16, 24>(z);
#else
  z.built = false;
  z.why_not_built = "x86-64 kernel; this build is for another machine";
#endif
#if AK_HAS_AVX_VNNI
  add_variants<VnniYmm, 1, 2, 4, 6, 8, 10, 12>(y);
  add_variants<VnniYmm, 2, 8, 10, 12>(y);
#else
  y.built = false;
  y.why_not_built = AK_X86 ? "the compiler lacks AVX-VNNI intrinsics (GCC 11+ or clang 12+ needed)"
                           : "x86-64 kernel; this build is for another machine";
#endif
  out.push_back(z);
  out.push_back(y);
}

}  // namespace accelkern_cpu
