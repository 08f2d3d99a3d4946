// Memory-bandwidth kernels (copy, read, write, triad) and copy-engine transfers. Plain launchers:
// pointers, sizes (bytes, or fp32 elements for triad) and a stream; CUDA headers only.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace accelkern {

enum MemKernel : int { kMemCopy = 0, kMemRead = 1, kMemWrite = 2, kMemTriad = 3 };
// stream: ld/st.global.cs (evict-first); l2: ld/st.global.cg (cached in L2 only, never L1: the hot sweep's
// hint, so a block re-reading a small buffer measures the L2 and not its SM's L1)
enum MemHint : int { kHintDefault = 0, kHintStream = 1, kHintL2 = 2 };

// How one kernel call is launched. vec: bytes per access (4, 8, 16); unroll: independent accesses in
// flight per thread and per input (1, 2, 4, 8); passes: times the whole buffer is processed in one call,
// spread over every block (passes > 1 lets a buffer smaller than the grid's tile span keep all SMs busy;
// each block then takes a contiguous run of the passes x tiles sequence, see for_tiles).
struct MemLaunch {
  int vec = 16;
  int unroll = 4;
  int hint = kHintDefault;
  int threads = 512;
  int blocks = 1;
  int passes = 1;
};

struct MemKernelInfo {
  int num_regs;               // registers per thread
  int local_bytes;            // local memory per thread (non-zero means spills or stack arrays)
  int max_threads_per_block;  // register-limited
  int max_blocks_per_sm;      // resident blocks per SM at `threads` per block
};

MemKernelInfo mem_kernel_info(MemKernel k, int vec, int unroll, int hint, int threads);

// dst[0..n_bytes) = src[0..n_bytes); any byte count (vector body, scalar byte tail). Pointers aligned to vec.
void launch_mem_copy(const void* src, void* dst, size_t n_bytes, const MemLaunch& l, cudaStream_t stream);

// partials[b] = sum over the words and tail bytes block b read, mod 2^32, over all passes. The checksum of
// one pass = sum of the n_bytes/4 little-endian 32-bit words + the (n_bytes % 4) trailing bytes, mod 2^32.
// partials needs l.blocks entries.
void launch_mem_read(const void* src, size_t n_bytes, uint32_t* partials, const MemLaunch& l, cudaStream_t stream);

// dst[0..n_bytes) = `pattern` repeated as little-endian 32-bit words (a trailing partial word gets its bytes).
void launch_mem_write(void* dst, size_t n_bytes, uint32_t pattern, const MemLaunch& l, cudaStream_t stream);

// a[i] = b[i] + s * c[i] for i < n_elems (fp32, one fused multiply-add per element).
void launch_mem_triad(float* a, const float* b, const float* c, float s, size_t n_elems, const MemLaunch& l,
                      cudaStream_t stream);

// cudaMemcpyAsync of n_bytes in whatever direction the pointers imply (device-to-device, pinned host <-> device).
void mem_copy_async(void* dst, const void* src, size_t n_bytes, cudaStream_t stream);

}  // namespace accelkern
