// int8 dot products without VNNI (AVX2): vpmaddubsw (u8 x s8 -> s16 pairs), vpmaddwd by ones (-> s32),
// vpaddd into the accumulator: the sequence int8 GEMMs use on CPUs before VNNI.
// One update: 3 instructions, 8 lanes x 4 products x 2 ops = 64 ops.
#include "common/platform.h"
#include "peak/chain_values.h"
#include "peak/peak.h"

#if AK_X86
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_X86
template <int A, int U>
struct I8Ymm {
  AK_TARGET("avx2") static void run(uint64_t iters, void* io, const void* ops) {
    char* p = static_cast<char*>(io);
    const char* o = static_cast<const char*>(ops);
    __m256i acc[A];
#pragma GCC unroll 32
    for (int a = 0; a < A; ++a) acc[a] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * a));
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(o));
    const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(o + 32));
    const __m256i ones = _mm256_set1_epi16(1);
    for (uint64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u)
#pragma GCC unroll 32
        for (int a = 0; a < A; ++a) {
          // the products do not depend on the accumulator: hide x's value so each update really
          // multiplies (a register copy, which renaming removes), instead of one hoisted product
          __m256i xa = x;
          asm volatile("" : "+x"(xa));
          acc[a] = _mm256_add_epi32(acc[a], _mm256_madd_epi16(_mm256_maddubs_epi16(xa, y), ones));
        }
    }
#pragma GCC unroll 32
    for (int a = 0; a < A; ++a) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 32 * a), acc[a]);
  }
};
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
  add_variants<I8Ymm, 2, 4, 6, 8>(k);
#else
  k.built = false;
  k.why_not_built = "x86-64 kernel; this build is for another machine";
#endif
  out.push_back(k);
}

}  // namespace accelkern_cpu
