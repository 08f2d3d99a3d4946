// Shared pieces of the peak kernels: the per-CTA clock record and kernel attribute queries.
#pragma once

#include <cuda_runtime.h>

#include "common/check.h"
#include "peak/peak.h"

namespace accelkern {
namespace peak_detail {

__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// Call with every thread of the CTA (it synchronises); thread 0 records clock64 and %globaltimer.
__device__ __forceinline__ void record_clock(long long* clocks, int which) {
  __syncthreads();
  if (clocks != nullptr && threadIdx.x == 0) {
    long long c = clock64();
    long long ns = static_cast<long long>(global_ns());
    clocks[4 * blockIdx.x + which] = c;
    clocks[4 * blockIdx.x + 2 + which] = ns;
  }
}

template <class Kernel>
PeakKernelInfo kernel_info(Kernel kernel, int threads, int dynamic_smem, int steps_per_iter) {
  cudaFuncAttributes a{};
  AK_CUDA_CHECK(cudaFuncGetAttributes(&a, kernel));
  PeakKernelInfo info;
  info.regs = a.numRegs;
  info.local_bytes = static_cast<int>(a.localSizeBytes);
  info.static_smem = static_cast<int>(a.sharedSizeBytes);
  info.max_threads = a.maxThreadsPerBlock;
  info.binary_version = a.binaryVersion;
  info.ptx_version = a.ptxVersion;
  info.steps_per_iter = steps_per_iter;
  if (dynamic_smem > 48 * 1024) {
    AK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, dynamic_smem));
  }
  if (threads > 0 && threads <= a.maxThreadsPerBlock) {
    AK_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&info.max_active_ctas, kernel, threads,
                                                                dynamic_smem));
  }
  return info;
}

}  // namespace peak_detail
}  // namespace accelkern
