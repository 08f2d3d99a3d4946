// CTAs per SM from given resources, computed by the CUDA toolkit's header-only occupancy calculator
// (cuda_occupancy.h) on the host: no GPU needed. It is the independent reference the Python wave model's
// occupancy arithmetic is tested against. Plain structs, CUDA headers only.
#pragma once

namespace accelkern {

struct OccupancyQuery {
  // device
  int cc_major = 9, cc_minor = 0;
  int max_threads_per_block = 1024;
  int max_threads_per_sm = 2048;
  int regs_per_block = 65536;
  int regs_per_sm = 65536;
  int warp_size = 32;
  long long smem_per_block = 49152;           // default (non opt-in) per-block limit
  long long smem_per_sm = 233472;
  long long smem_per_block_optin = 232448;
  long long reserved_smem_per_block = 1024;
  int sm_count = 132;
  // kernel and launch
  int threads_per_cta = 128;
  int regs_per_thread = 32;
  long long static_smem = 0;
  long long dynamic_smem = 0;
  long long max_dynamic_smem = 232448;       // the kernel's opt-in limit (cudaFuncAttributeMaxDynamicSharedMemorySize)
  int carveout_percent = -1;                 // -1: no preference; 0..100: preferred shared-memory carveout
};

struct OccupancyAnswer {
  int error = 0;             // cudaOccError (0: success)
  int ctas_per_sm = 0;
  unsigned limiting = 0;     // bit mask: 1 warps, 2 registers, 4 shared memory, 8 blocks, 16 barriers
  int limit_warps = 0, limit_regs = 0, limit_smem = 0, limit_blocks = 0, limit_barriers = 0;
  int allocated_regs_per_cta = 0;
  long long allocated_smem_per_cta = 0;
};

OccupancyAnswer occupancy_calc(const OccupancyQuery& q);

}  // namespace accelkern
