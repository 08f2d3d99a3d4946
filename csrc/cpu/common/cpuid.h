// Raw CPUID and XGETBV (decoded in Python: accelkern/hostcpu/cpuid.py, the one decoder), and Linux's
// permission request for AMX tile data, which a process needs before its first tile instruction.
#pragma once
#include <cstdint>
#include <string>

namespace accelkern_cpu {

struct CpuidRegs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

// False on a machine without CPUID (not x86).
bool cpuid(uint32_t leaf, uint32_t subleaf, CpuidRegs* out);
// XCR0 (which register states the OS saves); 0 when XGETBV is unavailable.
uint64_t xgetbv0();
// Asks Linux for AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM); *why says why not on failure.
bool request_amx_permission(std::string* why);
// A second opinion on a kernel's features from the compiler's own CPU model (GCC's
// __builtin_cpu_supports), so a dispatch mistake in Python is a refusal, never an illegal instruction.
// `features`: comma-separated names as the compiler spells them ("avx512f,avx512bf16").
bool compiler_says_supported(const std::string& features, std::string* missing);

}  // namespace accelkern_cpu
