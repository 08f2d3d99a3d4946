#include "common/clock_chain.h"

#include "common/platform.h"
#include "common/team.h"

namespace accelkern_cpu {

ChainTime run_add_chain(uint64_t passes) {
  ChainTime t;
  if (passes == 0) return t;
#if AK_X86
  uint64_t a = 1, b = 2, n = passes;
  const int64_t c0 = thread_cpu_ns(), t0 = now_ns();
  // 100 pairs: rax += rbx, rbx += rax; each add waits for the one before (kChainAddsPerPass = 200)
  asm volatile(
      "1:\n\t"
      ".rept 100\n\t"
      "add %%rbx, %%rax\n\t"
      "add %%rax, %%rbx\n\t"
      ".endr\n\t"
      "dec %%rcx\n\t"
      "jnz 1b\n\t"
      : "+c"(n), "+a"(a), "+b"(b)
      :
      : "cc");
  t.wall_s = (now_ns() - t0) * 1e-9;
  t.cpu_s = (thread_cpu_ns() - c0) * 1e-9;
  return t;
#elif AK_AARCH64
  uint64_t a = 1, b = 2, n = passes;
  const int64_t c0 = thread_cpu_ns(), t0 = now_ns();
  asm volatile(
      "1:\n\t"
      ".rept 100\n\t"
      "add %1, %1, %2\n\t"
      "add %2, %2, %1\n\t"
      ".endr\n\t"
      "subs %0, %0, #1\n\t"
      "b.ne 1b\n\t"
      : "+r"(n), "+r"(a), "+r"(b)
      :
      : "cc");
  t.wall_s = (now_ns() - t0) * 1e-9;
  t.cpu_s = (thread_cpu_ns() - c0) * 1e-9;
  return t;
#else
  return t;
#endif
}

}  // namespace accelkern_cpu
