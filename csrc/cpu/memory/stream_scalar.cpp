// The memory kernels one 8-byte element per instruction: the fallback for any machine. The compiler may not
// vectorise these loops (that would make them another path than they say); 4 elements per iteration (read:
// 4 accumulators). Streaming stores are movnti (x86-64's scalar non-temporal store, SSE2, part of the
// baseline) followed by one sfence per pass; other machines get no streaming variant. Traffic per element:
// ops.cpp.
#include "memory/no_libcall.h"

#include <cstring>

#include "common/platform.h"
#include "memory/memory.h"

#if AK_X86
#include <immintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-vectorize", "no-tree-slp-vectorize")
#define AK_SCALAR_LOOP
#elif defined(__clang__)
#define AK_SCALAR_LOOP _Pragma("clang loop vectorize(disable) interleave(disable)")
#else
#define AK_SCALAR_LOOP
#endif

namespace accelkern_cpu {

namespace {

constexpr size_t U = 4;   // elements per iteration

template <bool NT>
__attribute__((always_inline)) inline void put(double* p, double v) {
#if AK_X86
  if constexpr (NT) {
    long long bits;
    std::memcpy(&bits, &v, sizeof bits);
    _mm_stream_si64(reinterpret_cast<long long*>(p), bits);
    return;
  }
#endif
  *p = v;
}

template <bool NT>
__attribute__((always_inline)) inline void end_pass() {
#if AK_X86
  if constexpr (NT) _mm_sfence();
#endif
}

// read: 1 load, 0 stores per element
AK_NO_LIBCALL void read_scalar(double* const* x, size_t n, double, uint64_t* sum) {
  const uint64_t* a = reinterpret_cast<const uint64_t*>(x[0]);
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  AK_SCALAR_LOOP
  for (size_t i = 0; i < n; i += U) {
    s0 += a[i];
    s1 += a[i + 1];
    s2 += a[i + 2];
    s3 += a[i + 3];
  }
  *sum = s0 + s1 + s2 + s3;
}

// write: 0 loads, 1 store per element
template <bool NT>
AK_NO_LIBCALL void write_scalar(double* const* x, size_t n, double s, uint64_t*) {
  double* a = x[0];
  AK_SCALAR_LOOP
  for (size_t i = 0; i < n; i += U) {
    put<NT>(a + i, s);
    put<NT>(a + i + 1, s);
    put<NT>(a + i + 2, s);
    put<NT>(a + i + 3, s);
  }
  end_pass<NT>();
}

// copy: 1 load, 1 store per element
template <bool NT>
AK_NO_LIBCALL void copy_scalar(double* const* x, size_t n, double, uint64_t*) {
  double* c = x[0];
  const double* a = x[1];
  AK_SCALAR_LOOP
  for (size_t i = 0; i < n; i += U) {
    const double v0 = a[i], v1 = a[i + 1], v2 = a[i + 2], v3 = a[i + 3];
    put<NT>(c + i, v0);
    put<NT>(c + i + 1, v1);
    put<NT>(c + i + 2, v2);
    put<NT>(c + i + 3, v3);
  }
  end_pass<NT>();
}

// scale: 1 load, 1 store per element
template <bool NT>
AK_NO_LIBCALL void scale_scalar(double* const* x, size_t n, double s, uint64_t*) {
  double* b = x[0];
  const double* c = x[1];
  AK_SCALAR_LOOP
  for (size_t i = 0; i < n; i += U) {
    const double v0 = s * c[i], v1 = s * c[i + 1], v2 = s * c[i + 2], v3 = s * c[i + 3];
    put<NT>(b + i, v0);
    put<NT>(b + i + 1, v1);
    put<NT>(b + i + 2, v2);
    put<NT>(b + i + 3, v3);
  }
  end_pass<NT>();
}

// add: 2 loads, 1 store per element
template <bool NT>
AK_NO_LIBCALL void add_scalar(double* const* x, size_t n, double, uint64_t*) {
  double* c = x[0];
  const double* a = x[1];
  const double* b = x[2];
  AK_SCALAR_LOOP
  for (size_t i = 0; i < n; i += U) {
    const double v0 = a[i] + b[i], v1 = a[i + 1] + b[i + 1], v2 = a[i + 2] + b[i + 2], v3 = a[i + 3] + b[i + 3];
    put<NT>(c + i, v0);
    put<NT>(c + i + 1, v1);
    put<NT>(c + i + 2, v2);
    put<NT>(c + i + 3, v3);
  }
  end_pass<NT>();
}

// triad: 2 loads, 1 store per element
template <bool NT>
AK_NO_LIBCALL void triad_scalar(double* const* x, size_t n, double s, uint64_t*) {
  double* a = x[0];
  const double* b = x[1];
  const double* c = x[2];
  AK_SCALAR_LOOP
  for (size_t i = 0; i < n; i += U) {
    const double v0 = b[i] + s * c[i], v1 = b[i + 1] + s * c[i + 1];
    const double v2 = b[i + 2] + s * c[i + 2], v3 = b[i + 3] + s * c[i + 3];
    put<NT>(a + i, v0);
    put<NT>(a + i + 1, v1);
    put<NT>(a + i + 2, v2);
    put<NT>(a + i + 3, v3);
  }
  end_pass<NT>();
}

}  // namespace

void add_stream_scalar_kernels(std::vector<MemoryKernel>& out) {
  struct Entry {
    const char* op;
    bool nt;
    StreamFn fn;
  };
  const Entry entries[] = {
      {"read", false, &read_scalar},
      {"write", false, &write_scalar<false>}, {"write", true, &write_scalar<true>},
      {"copy", false, &copy_scalar<false>},   {"copy", true, &copy_scalar<true>},
      {"scale", false, &scale_scalar<false>}, {"scale", true, &scale_scalar<true>},
      {"add", false, &add_scalar<false>},     {"add", true, &add_scalar<true>},
      {"triad", false, &triad_scalar<false>}, {"triad", true, &triad_scalar<true>},
  };
  for (const auto& e : entries) {
    MemoryKernel k;
    k.path = "scalar";
    k.isa = "scalar (8-byte loads and stores)";
    k.features = "";
    declare_op(k, e.op, e.nt);
    const bool read = k.op == "read";
    k.vector_bytes = 8;
    k.unroll = U;
    k.block_elems = U;
    k.load_instr = read ? "add r64, [mem]" : (k.inputs ? "movsd xmm" : "");
    k.store_instr = k.stores_per_elem ? (e.nt ? "movnti r64" : "movsd xmm") : "";
#if !AK_X86
    k.load_instr = read ? "64-bit integer load" : (k.inputs ? "64-bit load" : "");
    k.store_instr = k.stores_per_elem ? "64-bit store" : "";
#endif
    k.fn = e.fn;
#if !AK_X86
    if (e.nt) {
      k.built = false;
      k.fn = nullptr;
      k.why_not_built = "no scalar non-temporal store on this machine (x86-64 only: movnti)";
    }
#endif
    out.push_back(k);
  }
}

}  // namespace accelkern_cpu
