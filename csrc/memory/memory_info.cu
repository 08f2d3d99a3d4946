// Launch checks, per-kernel resource facts (registers, spills, occupancy) and cudaMemcpyAsync transfers.
#include <string>

#include "memory/memory_common.cuh"

namespace accelkern {
namespace mem {

const void* checked_kernel(const void* kernel, const MemLaunch& l, const char* what) {
  const std::string w(what);
  AK_REQUIRE(l.vec == 4 || l.vec == 8 || l.vec == 16, w + ": vec must be 4, 8 or 16 bytes");
  AK_REQUIRE(l.unroll == 1 || l.unroll == 2 || l.unroll == 4 || l.unroll == 8, w + ": unroll must be 1, 2, 4 or 8");
  AK_REQUIRE(l.hint == kHintDefault || l.hint == kHintStream || l.hint == kHintL2,
             w + ": hint must be 0 (default), 1 (stream) or 2 (l2)");
  AK_REQUIRE(l.threads >= 32 && l.threads <= 1024 && l.threads % 32 == 0,
             w + ": threads per block must be a multiple of 32 in [32, 1024]");
  AK_REQUIRE(l.blocks >= 1, w + ": blocks must be >= 1");
  AK_REQUIRE(l.passes >= 1, w + ": passes must be >= 1");
  AK_REQUIRE(kernel != nullptr, w + ": no kernel built for this vec/unroll/hint");
  return kernel;
}

}  // namespace mem

MemKernelInfo mem_kernel_info(MemKernel k, int vec, int unroll, int hint, int threads) {
  const void* f = nullptr;
  switch (k) {
    case kMemCopy: f = mem::copy_kernel_ptr(vec, unroll, hint); break;
    case kMemRead: f = mem::read_kernel_ptr(vec, unroll, hint); break;
    case kMemWrite: f = mem::write_kernel_ptr(vec, unroll, hint); break;
    case kMemTriad: f = mem::triad_kernel_ptr(vec, unroll, hint); break;
  }
  AK_REQUIRE(f != nullptr, "mem_kernel_info: unknown kernel or no instantiation for this vec/unroll/hint");
  cudaFuncAttributes a{};
  AK_CUDA_CHECK(cudaFuncGetAttributes(&a, f));
  MemKernelInfo info{};
  info.num_regs = a.numRegs;
  info.local_bytes = static_cast<int>(a.localSizeBytes);
  info.max_threads_per_block = a.maxThreadsPerBlock;
  info.max_blocks_per_sm = 0;
  if (threads > 0 && threads <= a.maxThreadsPerBlock) {
    AK_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&info.max_blocks_per_sm, f, threads, 0));
  }
  return info;
}

void mem_copy_async(void* dst, const void* src, size_t n_bytes, cudaStream_t stream) {
  if (n_bytes == 0) return;
  AK_CUDA_CHECK(cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyDefault, stream));
}

}  // namespace accelkern
