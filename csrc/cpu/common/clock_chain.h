// The core clock measured without privileges: a chain of dependent register-register integer adds, each
// one cycle of latency on every x86-64 and Arm core this project knows (an add of two registers cannot be
// eliminated at rename, unlike an add of a small immediate on recent Intel cores). `adds` such adds take
// `adds` core cycles, so adds / seconds is the clock the core ran the chain at.
#pragma once
#include <cstdint>

namespace accelkern_cpu {

// Dependent adds per pass of the chain's loop (its unrolled body).
constexpr int kChainAddsPerPass = 200;

// Runs passes x kChainAddsPerPass dependent adds on the calling thread; returns the seconds it took
// (0 when this machine has no chain: neither x86-64 nor aarch64).
double run_add_chain(uint64_t passes);

}  // namespace accelkern_cpu
