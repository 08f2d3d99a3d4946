// Synthetic staircase kernel: every CTA does the same fixed, latency-bound register math and nothing else,
// so kernel time vs CTA count is a staircase whose steps sit at multiples of SMs x CTAs-per-SM.
// Dynamic shared memory (never touched) sets how many CTAs fit on one SM. Plain launchers, CUDA headers only.
#pragma once

#include <cuda_runtime.h>

namespace accelkern {

// One warp per CTA: a single dependent FFMA chain per thread uses about a quarter of one sub-partition's
// issue slots, so up to ~8 co-resident CTAs per SM do not slow each other and a wave costs one CTA's time.
constexpr int kStaircaseThreads = 32;

struct StaircaseAttributes {
  int num_regs;                  // registers per thread (cudaFuncGetAttributes)
  int static_smem_bytes;         // static shared memory per CTA
  int local_bytes;               // local memory per thread (0: no spills)
  int max_threads_per_block;     // the kernel's launch bound
  int threads_per_cta;           // what staircase_launch uses
  int max_dynamic_smem_bytes;    // opt-in limit set on the kernel
  int carveout_percent;          // preferred shared-memory carveout set on the kernel
  int reserved_smem_per_block;   // cudaDevAttrReservedSharedMemoryPerBlock
  int ctas_per_sm;               // cudaOccupancyMaxActiveBlocksPerMultiprocessor for the given smem
  int binary_version;            // SASS arch the runtime picked, e.g. 90
};

// Sets the kernel's opt-in shared-memory limit and carveout on `device` (once), then reports the
// occupancy the runtime computes for `dynamic_smem_bytes` per CTA. `device` must be the current device.
StaircaseAttributes staircase_attributes(int device, long long dynamic_smem_bytes);

// Thread-block clusters of `cluster_size` x 1 x 1 CTAs of this kernel (with `dynamic_smem_bytes` each) that
// fit on the GPU at once, as the runtime reports (cudaOccupancyMaxActiveClusters): clusters must sit inside
// one GPC, so this is at most SMs x CTAs-per-SM / cluster_size. sm_90 or newer.
int staircase_max_active_clusters(int device, int cluster_size, long long dynamic_smem_bytes);

// Launches `ctas` CTAs of kStaircaseThreads threads; each thread runs `iters` dependent x = fma(x, a, inc)
// with x0 = tid % 16 and inc = b * ((tid + cta) % 7). With a = 1 and small iters the result is exact,
// x = x0 + iters * inc. `store_all` writes every thread's x to out[cta * threads + tid] (check mode);
// otherwise nothing is stored (the store hides behind a condition the compiler cannot prove false).
void staircase_launch(int device, float* out, long long ctas, long long iters, long long dynamic_smem_bytes,
                      float a, float b, bool store_all, cudaStream_t stream);

}  // namespace accelkern
