#include <cstring>
#include <stdexcept>

#include "common/clock_chain.h"
#include "common/cpuid.h"
#include "peak/peak.h"

namespace accelkern_cpu {

const std::vector<PeakKernel>& peak_kernels() {
  static const std::vector<PeakKernel> all = [] {
    std::vector<PeakKernel> v;
    add_fma_avx2_kernels(v);
    add_fma_avx512_kernels(v);
    add_bf16_avx512_kernels(v);
    add_fp16_avx512_kernels(v);
    add_int8_avx2_kernels(v);
    add_vnni_kernels(v);
    add_amx_kernels(v);
    return v;
  }();
  return all;
}

const PeakKernel* find_peak_kernel(const std::string& name) {
  for (const auto& k : peak_kernels())
    if (k.name == name) return &k;
  return nullptr;
}

static ChainVariant pick_variant(const PeakKernel& k, int accumulators, int unroll) {
  if (!k.built) throw std::runtime_error(k.name + " is not built: " + k.why_not_built);
  for (const auto& v : k.variants)
    if (v.accumulators == accumulators && v.unroll == unroll) return v;
  std::string have;
  for (const auto& v : k.variants)
    have += (have.empty() ? "" : ", ") + std::to_string(v.accumulators) + "x" + std::to_string(v.unroll);
  throw std::invalid_argument(k.name + " has no launch shape " + std::to_string(accumulators) + " accumulators x " +
                              std::to_string(unroll) + " unroll (built: " + have + ")");
}

PeakRun::PeakRun(const PeakKernel& k, int accumulators, int unroll, const std::vector<int>& cpus)
    : k_(k), v_(pick_variant(k, accumulators, unroll)), team_(cpus) {
  std::string missing;
  if (!compiler_says_supported(k.features, &missing))
    throw std::runtime_error(k.name + " needs " + missing + ", which this CPU (or its OS) does not offer");
  if (k.needs_amx) {
    std::string why;
    if (!request_amx_permission(&why)) throw std::runtime_error(k.name + ": " + why);
  }
  const size_t acc_bytes = size_t(k.acc_bytes) * accumulators;
  start_.assign(acc_bytes, 0);
  std::vector<unsigned char> ops(k.operand_bytes, 0);
  k.init(start_.data(), accumulators, ops.data());
  acc_.resize(team_.size());
  ops_.resize(team_.size());
  // each worker's copies are allocated and first touched by that worker (its own core's memory)
  team_.each([&](int w) {
    acc_[w].assign(start_.begin(), start_.end());
    ops_[w].assign(ops.begin(), ops.end());
  });
}

TeamTiming PeakRun::run(uint64_t iters, uint64_t probe_passes, std::vector<ChainTime>* probe) {
  const ChainFn fn = v_.fn;
  TeamTiming t = team_.run([&](int w) { fn(iters, acc_[w].data(), ops_[w].data()); });
  if (probe_passes && probe) {
    probe->assign(team_.size(), ChainTime{});
    team_.run([&](int w) { (*probe)[w] = run_add_chain(probe_passes); });
  }
  return t;
}

void PeakRun::reset() {
  team_.each([&](int w) { std::memcpy(acc_[w].data(), start_.data(), start_.size()); });
}

std::string PeakRun::values(int worker) const {
  if (worker < 0 || worker >= static_cast<int>(acc_.size())) throw std::out_of_range("no such worker");
  return std::string(acc_[worker].begin(), acc_[worker].end());
}

std::string PeakRun::initial_values() const { return std::string(start_.begin(), start_.end()); }

}  // namespace accelkern_cpu
