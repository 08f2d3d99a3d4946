// accelkern's CPU compute-only kernels: register-resident chains of one instruction, with enough
// independent accumulators to cover latency x ports, run by one pinned thread per core. Each kernel declares
// next to its code what one accumulator update does (ops, instructions, ISA); Python reads the declarations.
//
// The check: each kernel's accumulators start from known values and the update is chosen so the end value
// is known exactly --
//   "alternate": acc = acc * (-1) + c, so after n updates acc is its start (n even) or c - start (n odd),
//                exact for any n (fp64, fp32, fp16 FMA);
//   "add":       acc = acc + step (bf16 dot products into fp32), exact while the sum stays below
//                2^24 x the step's smallest part (the Python check says when a run is past that);
//   "wrap32":    int32 acc = acc + step, exact for any n modulo 2^32 (int8 dot products).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/clock_chain.h"
#include "common/team.h"

namespace accelkern_cpu {

// iters loop passes of unroll x accumulators updates; acc: accumulators (in and out), ops: operands.
using ChainFn = void (*)(uint64_t iters, void* acc, const void* ops);

struct ChainVariant {
  int accumulators;
  int unroll;
  ChainFn fn;
};

struct PeakKernel {
  std::string name;             // "<dtype>_<path>", e.g. "fp32_avx512_fma"
  std::string dtype;            // fp64 fp32 bf16 fp16 int8
  std::string path;             // rate-table key: avx2_fma, avx512_fma, avx512_bf16, amx_bf16, avx512_vnni ...
  std::string instruction;      // what one update executes, as the ISA names it
  std::string isa;              // in words: "AVX-512F"
  std::string features;         // compiler feature names the kernel is compiled for ("avx512f,avx512bf16")
  double ops_per_update = 0;    // FLOP (int8: multiply and add counted separately) per accumulator update
  int instructions_per_update = 1;
  int acc_bytes = 0;            // bytes of one accumulator (a vector register or a tile)
  int operand_bytes = 0;        // bytes of the operands block
  std::string value_type;       // element type of an accumulator: f64 f32 f16 i32
  std::string check;            // alternate | add | wrap32
  double step = 0;              // "add"/"wrap32": what one update adds to each element; "alternate": c
  double step_part = 0;         // "add": the smallest term one update adds (its exactness unit)
  bool needs_amx = false;       // needs Linux's permission for AMX tile data
  bool built = true;            // false: the compiler could not build it (why_not_built says why)
  std::string why_not_built;
  std::vector<ChainVariant> variants;
  // fills the accumulators' start values and the operands (what makes the check exact)
  void (*init)(void* acc, int accumulators, void* ops) = nullptr;
};

const std::vector<PeakKernel>& peak_kernels();
const PeakKernel* find_peak_kernel(const std::string& name);

// One kernel at one launch shape on a team of pinned threads, each with its own accumulators.
class PeakRun {
 public:
  PeakRun(const PeakKernel& k, int accumulators, int unroll, const std::vector<int>& cpus);
  // Every worker runs `iters` passes at once; then, if probe_passes > 0, every worker runs the add chain
  // (common/clock_chain.h) at once, right after, and probe holds each worker's chain time.
  TeamTiming run(uint64_t iters, uint64_t probe_passes, std::vector<ChainTime>* probe);
  // Accumulators back to their start values on every worker.
  void reset();
  std::string values(int worker) const;          // raw accumulator bytes of one worker
  std::string initial_values() const;            // raw start bytes (the same on every worker)
  const PeakKernel& kernel() const { return k_; }
  Team& team() { return team_; }

 private:
  const PeakKernel& k_;
  ChainVariant v_;
  Team team_;
  std::vector<std::vector<unsigned char>> acc_, ops_;
  std::vector<unsigned char> start_;
};

// Builders: every ISA file adds its kernels (or, where the compiler cannot build them, a declaration
// with why_not_built).
void add_fma_avx2_kernels(std::vector<PeakKernel>& out);
void add_fma_avx512_kernels(std::vector<PeakKernel>& out);
void add_bf16_avx512_kernels(std::vector<PeakKernel>& out);
void add_fp16_avx512_kernels(std::vector<PeakKernel>& out);
void add_int8_avx2_kernels(std::vector<PeakKernel>& out);
void add_vnni_kernels(std::vector<PeakKernel>& out);
void add_amx_kernels(std::vector<PeakKernel>& out);

// Variants of a chain template K<A, U> for U and each A in As.
template <template <int, int> class K, int U, int... As>
void add_variants(PeakKernel& k) {
  (k.variants.push_back(ChainVariant{As, U, &K<As, U>::run}), ...);
}

}  // namespace accelkern_cpu
