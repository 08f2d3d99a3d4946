// Inline-PTX wrappers for wgmma.mma_async (sm_90a), one per type, N in {64, 128, 256} and operand
// source: SS (A and B from shared-memory descriptors) or RS (A from four registers, B from shared
// memory). Overloads are told apart by the accumulator array size (N/2 registers per thread).
// scale-d is a run-time predicate (1: D = A.B + D). No transposes: A and B are K-major.
#pragma once

#include <cstdint>

// accumulator register lists "{%0, ..., %R-1}"
#define AK_WG_D32 \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, " \
  "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define AK_WG_D64 \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, " \
  "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, " \
  "%40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, " \
  "%59, %60, %61, %62, %63}"
#define AK_WG_D128 \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, " \
  "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, " \
  "%40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, " \
  "%59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, " \
  "%78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, " \
  "%97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, " \
  "%114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}"

// accumulator operand lists: C(d[0]), ..., C(d[R-1])
#define AK_WG_O8(C, d, i) \
  C(d[i + 0]), C(d[i + 1]), C(d[i + 2]), C(d[i + 3]), C(d[i + 4]), C(d[i + 5]), C(d[i + 6]), C(d[i + 7])
#define AK_WG_OUT32(C, d) AK_WG_O8(C, d, 0), AK_WG_O8(C, d, 8), AK_WG_O8(C, d, 16), AK_WG_O8(C, d, 24)
#define AK_WG_OUT64(C, d) \
  AK_WG_O8(C, d, 0), AK_WG_O8(C, d, 8), AK_WG_O8(C, d, 16), AK_WG_O8(C, d, 24), AK_WG_O8(C, d, 32), \
  AK_WG_O8(C, d, 40), AK_WG_O8(C, d, 48), AK_WG_O8(C, d, 56)
#define AK_WG_OUT128(C, d) \
  AK_WG_O8(C, d, 0), AK_WG_O8(C, d, 8), AK_WG_O8(C, d, 16), AK_WG_O8(C, d, 24), AK_WG_O8(C, d, 32), \
  AK_WG_O8(C, d, 40), AK_WG_O8(C, d, 48), AK_WG_O8(C, d, 56), AK_WG_O8(C, d, 64), AK_WG_O8(C, d, 72), \
  AK_WG_O8(C, d, 80), AK_WG_O8(C, d, 88), AK_WG_O8(C, d, 96), AK_WG_O8(C, d, 104), AK_WG_O8(C, d, 112), \
  AK_WG_O8(C, d, 120)

// SS form: operands %R (A descriptor), %R+1 (B descriptor), %R+2 (scale-d)
#define AK_WG_SS(NAME, INSTR, R, IA, IB, IS, IMM, CONS, T)                                              \
  __device__ __forceinline__ void NAME(T(&d)[R], uint64_t desc_a, uint64_t desc_b, int scale_d) {      \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" #IS ", 0;\n" INSTR " " AK_WG_D##R ", %" #IA       \
                 ", %" #IB ", p" IMM ";\n}\n"                                                            \
                 : AK_WG_OUT##R(CONS, d)                                                                 \
                 : "l"(desc_a), "l"(desc_b), "r"(scale_d));                                              \
  }

// RS form: operands %R..%R+3 (A fragment), %R+4 (B descriptor), %R+5 (scale-d)
#define AK_WG_RS(NAME, INSTR, R, I0, I1, I2, I3, IB, IS, IMM, CONS, T)                                  \
  __device__ __forceinline__ void NAME(T(&d)[R], const uint32_t(&a)[4], uint64_t desc_b, int scale_d) { \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" #IS ", 0;\n" INSTR " " AK_WG_D##R ", {%" #I0       \
                 ", %" #I1 ", %" #I2 ", %" #I3 "}, %" #IB ", p" IMM ";\n}\n"                             \
                 : AK_WG_OUT##R(CONS, d)                                                                 \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(scale_d));              \
  }

// one type at N = 64, 128, 256 in both forms. PRE/POST: the instruction around the N ("m64n" N "k16...")
#define AK_WG_TYPE(TAG, PRE, POST, IMM_SS, IMM_RS, CONS, T)                                             \
  AK_WG_SS(wg_ss_##TAG, PRE "64" POST, 32, 32, 33, 34, IMM_SS, CONS, T)                                 \
  AK_WG_SS(wg_ss_##TAG, PRE "128" POST, 64, 64, 65, 66, IMM_SS, CONS, T)                                \
  AK_WG_SS(wg_ss_##TAG, PRE "256" POST, 128, 128, 129, 130, IMM_SS, CONS, T)                            \
  AK_WG_RS(wg_rs_##TAG, PRE "64" POST, 32, 32, 33, 34, 35, 36, 37, IMM_RS, CONS, T)                     \
  AK_WG_RS(wg_rs_##TAG, PRE "128" POST, 64, 64, 65, 66, 67, 68, 69, IMM_RS, CONS, T)                    \
  AK_WG_RS(wg_rs_##TAG, PRE "256" POST, 128, 128, 129, 130, 131, 132, 133, IMM_RS, CONS, T)

namespace accelkern {
namespace wgmma_detail {

#define AK_WG_PRE "wgmma.mma_async.sync.aligned.m64n"
// f16/bf16: imm-scale-a, imm-scale-b, imm-trans-a (SS only), imm-trans-b; tf32/fp8: the scales only;
// s8: none.
AK_WG_TYPE(f16, AK_WG_PRE, "k16.f32.f16.f16", ", 1, 1, 0, 0", ", 1, 1, 0", "+f", float)
AK_WG_TYPE(bf16, AK_WG_PRE, "k16.f32.bf16.bf16", ", 1, 1, 0, 0", ", 1, 1, 0", "+f", float)
AK_WG_TYPE(tf32, AK_WG_PRE, "k8.f32.tf32.tf32", ", 1, 1", ", 1, 1", "+f", float)
AK_WG_TYPE(e4m3, AK_WG_PRE, "k32.f32.e4m3.e4m3", ", 1, 1", ", 1, 1", "+f", float)
AK_WG_TYPE(e5m2, AK_WG_PRE, "k32.f32.e5m2.e5m2", ", 1, 1", ", 1, 1", "+f", float)
AK_WG_TYPE(s8, AK_WG_PRE, "k32.s32.s8.s8", "", "", "+r", int)
#undef AK_WG_PRE

// The op structs the kernel template takes: accumulator type and the two forms for any N.
#define AK_WG_OP(NAME, TAG, ACC)                                                                        \
  struct NAME {                                                                                         \
    using Acc = ACC;                                                                                    \
    template <int R>                                                                                    \
    __device__ __forceinline__ static void ss(Acc (&d)[R], uint64_t da, uint64_t db, int scale_d) {    \
      wg_ss_##TAG(d, da, db, scale_d);                                                                  \
    }                                                                                                   \
    template <int R>                                                                                    \
    __device__ __forceinline__ static void rs(Acc (&d)[R], const uint32_t (&a)[4], uint64_t db,        \
                                              int scale_d) {                                            \
      wg_rs_##TAG(d, a, db, scale_d);                                                                   \
    }                                                                                                   \
  };

AK_WG_OP(WgF16, f16, float)
AK_WG_OP(WgBf16, bf16, float)
AK_WG_OP(WgTf32, tf32, float)
AK_WG_OP(WgE4m3, e4m3, float)
AK_WG_OP(WgE5m2, e5m2, float)
AK_WG_OP(WgS8, s8, int)

}  // namespace wgmma_detail
}  // namespace accelkern
