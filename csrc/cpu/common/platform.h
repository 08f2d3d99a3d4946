// What the compiler targets and how a function is compiled for one ISA. Every ISA-specific function carries
// AK_TARGET("...") so one build runs on any x86-64: the caller dispatches at run time (never -march).
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#define AK_X86 1
#else
#define AK_X86 0
#endif

#if defined(__aarch64__)
#define AK_AARCH64 1
#else
#define AK_AARCH64 0
#endif

#define AK_TARGET(isa) __attribute__((target(isa)))

// GCC gained the intrinsics per ISA in these releases; an older compiler leaves the kernel out and says so.
#if defined(__clang__)
#define AK_CC_AT_LEAST(gcc, clang) (__clang_major__ >= (clang))
#elif defined(__GNUC__)
#define AK_CC_AT_LEAST(gcc, clang) (__GNUC__ >= (gcc))
#else
#define AK_CC_AT_LEAST(gcc, clang) 0
#endif

#define AK_HAS_AVX512_BF16 (AK_X86 && AK_CC_AT_LEAST(10, 9))
#define AK_HAS_AVX_VNNI (AK_X86 && AK_CC_AT_LEAST(11, 12))
#define AK_HAS_AVX512_FP16 (AK_X86 && AK_CC_AT_LEAST(12, 14))
#define AK_HAS_AMX (AK_X86 && AK_CC_AT_LEAST(11, 12))
#define AK_HAS_AMX_FP16 (AK_X86 && AK_CC_AT_LEAST(13, 16))

namespace accelkern_cpu {
// The name of the machine this build targets ("x86_64", "aarch64", ...).
const char* build_arch();
}  // namespace accelkern_cpu
