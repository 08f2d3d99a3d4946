// The memory kernels on 256-bit registers (AVX2): 4 doubles per instruction, 4 registers per loop
// iteration (read: 8, into 8 accumulators). Aligned loads; stores are vmovapd, or vmovntpd (non-temporal)
// followed by one sfence per pass. Triad is a multiply and an add (no FMA needed). Traffic per element:
// ops.cpp.
#include "memory/no_libcall.h"

#include "common/platform.h"
#include "memory/memory.h"

#if AK_X86
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_X86
namespace {

constexpr size_t V = 4;   // doubles per ymm
constexpr size_t U = 4;   // ymm stored per iteration
constexpr size_t UR = 8;  // ymm read per iteration (read)

template <bool NT>
AK_TARGET("avx2") __attribute__((always_inline)) inline void put(double* p, __m256d v) {
  if constexpr (NT)
    _mm256_stream_pd(p, v);
  else
    _mm256_store_pd(p, v);
}

template <bool NT>
AK_TARGET("avx2") __attribute__((always_inline)) inline void end_pass() {
  if constexpr (NT) _mm_sfence();
}

// read: 1 load, 0 stores per element
AK_TARGET("avx2") __attribute__((always_inline)) inline __m256i load_i(const double* p) {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
}

AK_TARGET("avx2") AK_NO_LIBCALL void read_ymm(double* const* x, size_t n, double, uint64_t* sum) {
  const double* a = x[0];
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (size_t i = 0; i < n; i += V * UR) {
    s0 = _mm256_add_epi64(s0, load_i(a + i));
    s1 = _mm256_add_epi64(s1, load_i(a + i + 4));
    s2 = _mm256_add_epi64(s2, load_i(a + i + 8));
    s3 = _mm256_add_epi64(s3, load_i(a + i + 12));
    s4 = _mm256_add_epi64(s4, load_i(a + i + 16));
    s5 = _mm256_add_epi64(s5, load_i(a + i + 20));
    s6 = _mm256_add_epi64(s6, load_i(a + i + 24));
    s7 = _mm256_add_epi64(s7, load_i(a + i + 28));
  }
  const __m256i t = _mm256_add_epi64(_mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3)),
                                     _mm256_add_epi64(_mm256_add_epi64(s4, s5), _mm256_add_epi64(s6, s7)));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), t);
  *sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

// write: 0 loads, 1 store per element
template <bool NT>
AK_TARGET("avx2") AK_NO_LIBCALL void write_ymm(double* const* x, size_t n, double s, uint64_t*) {
  double* a = x[0];
  const __m256d v = _mm256_set1_pd(s);
  for (size_t i = 0; i < n; i += V * U) {
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) put<NT>(a + i + V * u, v);
  }
  end_pass<NT>();
}

// copy: 1 load, 1 store per element
template <bool NT>
AK_TARGET("avx2") AK_NO_LIBCALL void copy_ymm(double* const* x, size_t n, double, uint64_t*) {
  double* c = x[0];
  const double* a = x[1];
  for (size_t i = 0; i < n; i += V * U) {
    __m256d v[U];
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) v[u] = _mm256_load_pd(a + i + V * u);
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) put<NT>(c + i + V * u, v[u]);
  }
  end_pass<NT>();
}

// scale: 1 load, 1 store per element
template <bool NT>
AK_TARGET("avx2") AK_NO_LIBCALL void scale_ymm(double* const* x, size_t n, double s, uint64_t*) {
  double* b = x[0];
  const double* c = x[1];
  const __m256d sv = _mm256_set1_pd(s);
  for (size_t i = 0; i < n; i += V * U) {
    __m256d v[U];
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) v[u] = _mm256_mul_pd(sv, _mm256_load_pd(c + i + V * u));
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) put<NT>(b + i + V * u, v[u]);
  }
  end_pass<NT>();
}

// add: 2 loads, 1 store per element
template <bool NT>
AK_TARGET("avx2") AK_NO_LIBCALL void add_ymm(double* const* x, size_t n, double, uint64_t*) {
  double* c = x[0];
  const double* a = x[1];
  const double* b = x[2];
  for (size_t i = 0; i < n; i += V * U) {
    __m256d v[U];
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) v[u] = _mm256_add_pd(_mm256_load_pd(a + i + V * u), _mm256_load_pd(b + i + V * u));
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) put<NT>(c + i + V * u, v[u]);
  }
  end_pass<NT>();
}

// triad: 2 loads, 1 store per element
template <bool NT>
AK_TARGET("avx2") AK_NO_LIBCALL void triad_ymm(double* const* x, size_t n, double s, uint64_t*) {
  double* a = x[0];
  const double* b = x[1];
  const double* c = x[2];
  const __m256d sv = _mm256_set1_pd(s);
  for (size_t i = 0; i < n; i += V * U) {
    __m256d v[U];
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u)
      v[u] = _mm256_add_pd(_mm256_load_pd(b + i + V * u), _mm256_mul_pd(sv, _mm256_load_pd(c + i + V * u)));
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) put<NT>(a + i + V * u, v[u]);
  }
  end_pass<NT>();
}

}  // namespace
#endif

void add_stream_avx2_kernels(std::vector<MemoryKernel>& out) {
  struct Entry {
    const char* op;
    bool nt;
    StreamFn fn;
  };
#if AK_X86
  const Entry entries[] = {
      {"read", false, &read_ymm},
      {"write", false, &write_ymm<false>}, {"write", true, &write_ymm<true>},
      {"copy", false, &copy_ymm<false>},   {"copy", true, &copy_ymm<true>},
      {"scale", false, &scale_ymm<false>}, {"scale", true, &scale_ymm<true>},
      {"add", false, &add_ymm<false>},     {"add", true, &add_ymm<true>},
      {"triad", false, &triad_ymm<false>}, {"triad", true, &triad_ymm<true>},
  };
#else
  const Entry entries[] = {
      {"read", false, nullptr},  {"write", false, nullptr}, {"write", true, nullptr}, {"copy", false, nullptr},
      {"copy", true, nullptr},   {"scale", false, nullptr}, {"scale", true, nullptr}, {"add", false, nullptr},
      {"add", true, nullptr},    {"triad", false, nullptr}, {"triad", true, nullptr},
  };
#endif
  for (const auto& e : entries) {
    MemoryKernel k;
    k.path = "avx2";
    k.isa = "AVX2";
    k.features = "avx2";
    declare_op(k, e.op, e.nt);
    const bool read = k.op == "read";
    k.vector_bytes = 32;
    k.unroll = read ? 8 : 4;
    k.block_elems = 4 * k.unroll;
    k.load_instr = read ? "vpaddq ymm, [mem] (64-bit lanes)" : (k.inputs ? "vmovapd ymm" : "");
    k.store_instr = k.stores_per_elem ? (e.nt ? "vmovntpd ymm" : "vmovapd ymm") : "";
    k.fn = e.fn;
#if !AK_X86
    k.built = false;
    k.why_not_built = "x86-64 kernel; this build is for another machine";
#endif
    out.push_back(k);
  }
}

}  // namespace accelkern_cpu
