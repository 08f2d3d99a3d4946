#include <cuda_occupancy.h>

#include "waves/occupancy_calc.h"

namespace accelkern {

OccupancyAnswer occupancy_calc(const OccupancyQuery& q) {
  cudaOccDeviceProp prop;
  prop.computeMajor = q.cc_major;
  prop.computeMinor = q.cc_minor;
  prop.maxThreadsPerBlock = q.max_threads_per_block;
  prop.maxThreadsPerMultiprocessor = q.max_threads_per_sm;
  prop.regsPerBlock = q.regs_per_block;
  prop.regsPerMultiprocessor = q.regs_per_sm;
  prop.warpSize = q.warp_size;
  prop.sharedMemPerBlock = static_cast<size_t>(q.smem_per_block);
  prop.sharedMemPerMultiprocessor = static_cast<size_t>(q.smem_per_sm);
  prop.numSms = q.sm_count;
  prop.sharedMemPerBlockOptin = static_cast<size_t>(q.smem_per_block_optin);
  prop.reservedSharedMemPerBlock = static_cast<size_t>(q.reserved_smem_per_block);

  cudaOccFuncAttributes attr;
  attr.maxThreadsPerBlock = q.max_threads_per_block;
  attr.numRegs = q.regs_per_thread;
  attr.sharedSizeBytes = static_cast<size_t>(q.static_smem);
  attr.partitionedGCConfig = PARTITIONED_GC_OFF;
  attr.shmemLimitConfig = FUNC_SHMEM_LIMIT_OPTIN;  // as the runtime does for a kernel whose attributes were read
  attr.maxDynamicSharedSizeBytes = static_cast<size_t>(q.max_dynamic_smem);
  attr.numBlockBarriers = 1;

  cudaOccDeviceState state;
  state.carveoutConfig = q.carveout_percent;

  cudaOccResult res{};
  OccupancyAnswer a;
  a.error = static_cast<int>(cudaOccMaxActiveBlocksPerMultiprocessor(&res, &prop, &attr, &state, q.threads_per_cta,
                                                                     static_cast<size_t>(q.dynamic_smem)));
  if (a.error != 0) return a;
  a.ctas_per_sm = res.activeBlocksPerMultiprocessor;
  a.limiting = res.limitingFactors;
  a.limit_warps = res.blockLimitWarps;
  a.limit_regs = res.blockLimitRegs;
  a.limit_smem = res.blockLimitSharedMem;
  a.limit_blocks = res.blockLimitBlocks;
  a.limit_barriers = res.blockLimitBarriers;
  a.allocated_regs_per_cta = res.allocatedRegistersPerBlock;
  a.allocated_smem_per_cta = static_cast<long long>(res.allocatedSharedMemPerBlock);
  return a;
}

}  // namespace accelkern
