// The core clock measured without privileges: a chain of dependent register-register integer adds, each
// one cycle of latency on every x86-64 and Arm core this project knows (an add of two registers cannot be
// eliminated at rename, unlike an add of a small immediate on recent Intel cores). `adds` such adds take
// `adds` core cycles, so adds / seconds is the clock the core ran the chain at.
#pragma once
#include <cstdint>

namespace accelkern_cpu {

// Dependent adds per pass of the chain's loop (its unrolled body).
constexpr int kChainAddsPerPass = 200;

struct ChainTime {
  double wall_s = 0;   // monotonic clock
  double cpu_s = 0;    // time the thread was on its core: adds / cpu_s is the clock even if it was preempted
};

// Runs passes x kChainAddsPerPass dependent adds on the calling thread; returns the time it took
// (zeros when this machine has no chain: neither x86-64 nor aarch64).
ChainTime run_add_chain(uint64_t passes);

}  // namespace accelkern_cpu
