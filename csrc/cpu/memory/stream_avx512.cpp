// The memory kernels on 512-bit registers (AVX-512F): 8 doubles per instruction, 4 registers per loop
// iteration (read: 8, into 8 accumulators, so two loads a cycle never wait on an add). Aligned loads;
// stores are vmovapd, or vmovntpd (non-temporal: no write-allocate read, the line bypasses the caches)
// followed by one sfence per pass. Traffic per element: ops.cpp.
#include "memory/no_libcall.h"

#include "common/platform.h"
#include "memory/memory.h"

#if AK_X86
#include <immintrin.h>
#endif

namespace accelkern_cpu {

#if AK_X86
namespace {

constexpr size_t V = 8;   // doubles per zmm
constexpr size_t U = 4;   // zmm stored per iteration
constexpr size_t UR = 8;  // zmm read per iteration (read)

template <bool NT>
AK_TARGET("avx512f") __attribute__((always_inline)) inline void put(double* p, __m512d v) {
  if constexpr (NT)
    _mm512_stream_pd(p, v);
  else
    _mm512_store_pd(p, v);
}

template <bool NT>
AK_TARGET("avx512f") __attribute__((always_inline)) inline void end_pass() {
  if constexpr (NT) _mm_sfence();  // the streamed lines are written before the pass counts as done
}

// read: 1 load, 0 stores per element
AK_TARGET("avx512f") AK_NO_LIBCALL void read_zmm(double* const* x, size_t n, double, uint64_t* sum) {
  const double* a = x[0];
  __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (size_t i = 0; i < n; i += V * UR) {
    s0 = _mm512_add_epi64(s0, _mm512_load_si512(a + i));
    s1 = _mm512_add_epi64(s1, _mm512_load_si512(a + i + 8));
    s2 = _mm512_add_epi64(s2, _mm512_load_si512(a + i + 16));
    s3 = _mm512_add_epi64(s3, _mm512_load_si512(a + i + 24));
    s4 = _mm512_add_epi64(s4, _mm512_load_si512(a + i + 32));
    s5 = _mm512_add_epi64(s5, _mm512_load_si512(a + i + 40));
    s6 = _mm512_add_epi64(s6, _mm512_load_si512(a + i + 48));
    s7 = _mm512_add_epi64(s7, _mm512_load_si512(a + i + 56));
  }
  const __m512i t = _mm512_add_epi64(_mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)),
                                     _mm512_add_epi64(_mm512_add_epi64(s4, s5), _mm512_add_epi64(s6, s7)));
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, t);
  uint64_t total = 0;
  for (uint64_t v : lanes) total += v;
  *sum = total;
}

// write: 0 loads, 1 store per element
template <bool NT>
AK_TARGET("avx512f") AK_NO_LIBCALL void write_zmm(double* const* x, size_t n, double s, uint64_t*) {
  double* a = x[0];
  const __m512d v = _mm512_set1_pd(s);
  for (size_t i = 0; i < n; i += V * U) {
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) put<NT>(a + i + V * u, v);
  }
  end_pass<NT>();
}

// copy: 1 load, 1 store per element
template <bool NT>
AK_TARGET("avx512f") AK_NO_LIBCALL void copy_zmm(double* const* x, size_t n, double, uint64_t*) {
  double* c = x[0];
  const double* a = x[1];
  for (size_t i = 0; i < n; i += V * U) {
    __m512d v[U];
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) v[u] = _mm512_load_pd(a + i + V * u);
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) put<NT>(c + i + V * u, v[u]);
  }
  end_pass<NT>();
}

// scale: 1 load, 1 store per element
template <bool NT>
AK_TARGET("avx512f") AK_NO_LIBCALL void scale_zmm(double* const* x, size_t n, double s, uint64_t*) {
  double* b = x[0];
  const double* c = x[1];
  const __m512d sv = _mm512_set1_pd(s);
  for (size_t i = 0; i < n; i += V * U) {
    __m512d v[U];
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) v[u] = _mm512_mul_pd(sv, _mm512_load_pd(c + i + V * u));
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) put<NT>(b + i + V * u, v[u]);
  }
  end_pass<NT>();
}

// add: 2 loads, 1 store per element
template <bool NT>
AK_TARGET("avx512f") AK_NO_LIBCALL void add_zmm(double* const* x, size_t n, double, uint64_t*) {
  double* c = x[0];
  const double* a = x[1];
  const double* b = x[2];
  for (size_t i = 0; i < n; i += V * U) {
    __m512d v[U];
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) v[u] = _mm512_add_pd(_mm512_load_pd(a + i + V * u), _mm512_load_pd(b + i + V * u));
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) put<NT>(c + i + V * u, v[u]);
  }
  end_pass<NT>();
}

// triad: 2 loads, 1 store per element (one FMA)
template <bool NT>
AK_TARGET("avx512f") AK_NO_LIBCALL void triad_zmm(double* const* x, size_t n, double s, uint64_t*) {
  double* a = x[0];
  const double* b = x[1];
  const double* c = x[2];
  const __m512d sv = _mm512_set1_pd(s);
  for (size_t i = 0; i < n; i += V * U) {
    __m512d v[U];
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u)
      v[u] = _mm512_fmadd_pd(sv, _mm512_load_pd(c + i + V * u), _mm512_load_pd(b + i + V * u));
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) put<NT>(a + i + V * u, v[u]);
  }
  end_pass<NT>();
}

}  // namespace
#endif

void add_stream_avx512_kernels(std::vector<MemoryKernel>& out) {
  struct Entry {
    const char* op;
    bool nt;
    StreamFn fn;
  };
#if AK_X86
  const Entry entries[] = {
      {"read", false, &read_zmm},
      {"write", false, &write_zmm<false>}, {"write", true, &write_zmm<true>},
      {"copy", false, &copy_zmm<false>},   {"copy", true, &copy_zmm<true>},
      {"scale", false, &scale_zmm<false>}, {"scale", true, &scale_zmm<true>},
      {"add", false, &add_zmm<false>},     {"add", true, &add_zmm<true>},
      {"triad", false, &triad_zmm<false>}, {"triad", true, &triad_zmm<true>},
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
    k.path = "avx512";
    k.isa = "AVX-512F";
    k.features = "avx512f";
    declare_op(k, e.op, e.nt);
    const bool read = k.op == "read";
    k.vector_bytes = 64;
    k.unroll = read ? 8 : 4;
    k.block_elems = 8 * k.unroll;
    k.load_instr = read ? "vpaddq zmm, [mem] (64-bit lanes)" : (k.inputs ? "vmovapd zmm" : "");
    k.store_instr = k.stores_per_elem ? (e.nt ? "vmovntpd zmm" : "vmovapd zmm") : "";
    k.fn = e.fn;
#if !AK_X86
    k.built = false;
    k.why_not_built = "x86-64 kernel; this build is for another machine";
#endif
    out.push_back(k);
  }
}

}  // namespace accelkern_cpu
