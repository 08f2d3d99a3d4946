// int8 dot products without VNNI (AVX2): vpmaddubsw (u8 x s8 -> s16 pairs), vpmaddwd by ones (-> s32),
// vpaddd into the accumulator: the sequence int8 GEMMs use on CPUs before VNNI.
// One update: 3 instructions, 8 lanes x 4 products x 2 ops = 64 ops.
#include "common/platform.h"
#include "peak/chain.h"
#include "peak/chain_values.h"
#include "peak/peak.h"

#if AK_X86
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_X86
// The products do not depend on the accumulator: x's value is hidden from the compiler at each update (a
// register copy, which renaming removes), so every update really multiplies instead of one hoisted product.
AK_TARGET("avx2") static inline __attribute__((always_inline)) __m256i i8_update(__m256i acc, __m256i x,
                                                                                __m256i y) {
  asm volatile("" : "+x"(x));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1)));
}
AK_CHAIN_KERNEL(I8Ymm, "avx2", __m256i, __m256i, _mm256_loadu_si256, _mm256_storeu_si256,
                __m256i, 1, i8_update(acc[a], x, y))
#endif

void add_int8_avx2_kernels(std::vector<PeakKernel>& out) {
  PeakKernel k;
  k.name = "int8_avx2_int8";
  k.dtype = "int8";
  k.path = "avx2_int8";
  k.instruction = "vpmaddubsw + vpmaddwd + vpaddd ymm";
  k.isa = "AVX2";
  k.features = "avx2";
  k.ops_per_update = 64;
  k.instructions_per_update = 3;
  k.acc_bytes = 32;
  k.operand_bytes = 64;
  k.value_type = "i32";
  k.check = "wrap32";
  k.step = 4.0 * kInt8A * kInt8B;
  k.init = [](void* acc, int a, void* ops) { fill_int8(acc, 8 * a, ops, 32); };
#if AK_X86
  add_variants<I8Ymm, 1, 2, 4, 6, 8, 10>(k);
  add_variants<I8Ymm, 2, 4, 6>(k);   // 8 x 2 runs out of the 16 ymm registers
#else
  k.built = false;
  k.why_not_built = "x86-64 kernel; this build is for another machine";
#endif
  out.push_back(k);
}

}  // namespace accelkern_cpu
