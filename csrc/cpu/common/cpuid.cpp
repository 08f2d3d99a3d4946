#include "common/cpuid.h"

#include <sstream>

#include "common/platform.h"

#if AK_X86
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace accelkern_cpu {

const char* build_arch() {
#if AK_X86
  return "x86_64";
#elif AK_AARCH64
  return "aarch64";
#else
  return "other";
#endif
}

bool cpuid(uint32_t leaf, uint32_t subleaf, CpuidRegs* out) {
#if AK_X86
  unsigned a, b, c, d;
  __cpuid_count(leaf, subleaf, a, b, c, d);
  out->eax = a;
  out->ebx = b;
  out->ecx = c;
  out->edx = d;
  return true;
#else
  (void)leaf;
  (void)subleaf;
  *out = CpuidRegs{};
  return false;
#endif
}

#if AK_X86
AK_TARGET("xsave") static uint64_t read_xcr0() { return __builtin_ia32_xgetbv(0); }
#endif

uint64_t xgetbv0() {
#if AK_X86
  CpuidRegs r;
  cpuid(1, 0, &r);
  if (!(r.ecx & (1u << 27))) return 0;  // OSXSAVE clear: XGETBV would fault
  return read_xcr0();
#else
  return 0;
#endif
}

bool request_amx_permission(std::string* why) {
#if AK_X86 && defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023;  // asm/prctl.h
  constexpr long kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0) return true;
  *why = "Linux refused AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM failed: needs Linux 5.16+ and a CPU/VM "
         "that exposes AMX)";
  return false;
#else
  *why = "AMX needs Linux on x86-64";
  return false;
#endif
}

bool compiler_says_supported(const std::string& features, std::string* missing) {
  std::stringstream ss(features);
  std::string f;
  bool ok = true;
  while (std::getline(ss, f, ',')) {
    if (f.empty()) continue;
    bool has = true;
#if AK_X86 && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    if (f == "avx2") has = __builtin_cpu_supports("avx2");
    else if (f == "fma") has = __builtin_cpu_supports("fma");
    else if (f == "avx512f") has = __builtin_cpu_supports("avx512f");
    else if (f == "avx512bw") has = __builtin_cpu_supports("avx512bw");
    else if (f == "avx512vl") has = __builtin_cpu_supports("avx512vl");
    else if (f == "avx512vnni") has = __builtin_cpu_supports("avx512vnni");
#if AK_CC_AT_LEAST(10, 99)
    else if (f == "avx512bf16") has = __builtin_cpu_supports("avx512bf16");
#endif
#if AK_CC_AT_LEAST(11, 99)
    else if (f == "avxvnni") has = __builtin_cpu_supports("avxvnni");
    else if (f == "amx-tile") has = __builtin_cpu_supports("amx-tile");
    else if (f == "amx-bf16") has = __builtin_cpu_supports("amx-bf16");
    else if (f == "amx-int8") has = __builtin_cpu_supports("amx-int8");
#endif
#if AK_CC_AT_LEAST(12, 99)
    else if (f == "avx512fp16") has = __builtin_cpu_supports("avx512fp16");
#endif
    // names the compiler's model lacks (amx-fp16 on GCC 12) rest on the Python decoder alone
#elif !AK_X86
    has = false;
#endif
    if (!has) {
      ok = false;
      if (!missing->empty()) *missing += ",";
      *missing += f;
    }
  }
  return ok;
}

}  // namespace accelkern_cpu
