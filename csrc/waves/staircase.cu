#include <atomic>
#include <string>

#include "common/check.h"
#include "waves/staircase.h"

namespace accelkern {

namespace {

__global__ void __launch_bounds__(kStaircaseThreads)
    staircase_kernel(float* __restrict__ out, int iters, float a, float b, int store_all) {
  extern __shared__ float occupancy_smem[];  // never touched: its size alone limits CTAs per SM
  (void)occupancy_smem;
  const unsigned tid = threadIdx.x;
  float x = static_cast<float>(tid & 15u);
  const float inc = b * static_cast<float>((tid + blockIdx.x) % 7u);
  // one dependent chain: latency-bound on purpose (see staircase.h)
#pragma unroll 16
  for (int i = 0; i < iters; ++i) x = fmaf(x, a, inc);
  // 0xffffffff is a NaN payload an FFMA never produces: the store is dead at run time but keeps x alive
  if (store_all || __float_as_uint(x) == 0xffffffffu) out[size_t(blockIdx.x) * kStaircaseThreads + tid] = x;
}

std::atomic<unsigned long long> g_prepared{0};  // bit d: attributes set on device d

void prepare(int device) {
  AK_REQUIRE(device >= 0 && device < 64, "device index must be in [0, 64)");
  const unsigned long long bit = 1ull << device;
  if (g_prepared.load() & bit) return;
  int optin = 0;
  AK_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  AK_CUDA_CHECK(cudaFuncSetAttribute(staircase_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin));
  // the whole unified L1/shared array as shared memory: the per-SM budget the occupancy model assumes
  AK_CUDA_CHECK(cudaFuncSetAttribute(staircase_kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                     cudaSharedmemCarveoutMaxShared));
  g_prepared.fetch_or(bit);
}

}  // namespace

StaircaseAttributes staircase_attributes(int device, long long dynamic_smem_bytes) {
  AK_REQUIRE(dynamic_smem_bytes >= 0, "dynamic_smem_bytes must be >= 0");
  prepare(device);
  cudaFuncAttributes fa{};
  AK_CUDA_CHECK(cudaFuncGetAttributes(&fa, staircase_kernel));
  StaircaseAttributes r{};
  r.num_regs = fa.numRegs;
  r.static_smem_bytes = static_cast<int>(fa.sharedSizeBytes);
  r.local_bytes = static_cast<int>(fa.localSizeBytes);
  r.max_threads_per_block = fa.maxThreadsPerBlock;
  r.threads_per_cta = kStaircaseThreads;
  r.max_dynamic_smem_bytes = fa.maxDynamicSharedSizeBytes;
  r.carveout_percent = fa.preferredShmemCarveout;
  r.binary_version = fa.binaryVersion;
  AK_CUDA_CHECK(cudaDeviceGetAttribute(&r.reserved_smem_per_block, cudaDevAttrReservedSharedMemoryPerBlock, device));
  AK_REQUIRE(dynamic_smem_bytes <= fa.maxDynamicSharedSizeBytes,
             "dynamic_smem_bytes exceeds the opt-in limit of " + std::to_string(fa.maxDynamicSharedSizeBytes));
  AK_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&r.ctas_per_sm, staircase_kernel, kStaircaseThreads,
                                                              static_cast<size_t>(dynamic_smem_bytes)));
  return r;
}

int staircase_max_active_clusters(int device, int cluster_size, long long dynamic_smem_bytes) {
  AK_REQUIRE(cluster_size >= 1 && cluster_size <= 16, "cluster_size must be in [1, 16]");
  AK_REQUIRE(dynamic_smem_bytes >= 0, "dynamic_smem_bytes must be >= 0");
  int major = 0;
  AK_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  AK_REQUIRE(major >= 9, "thread-block clusters need sm_90 or newer");
  prepare(device);
  if (cluster_size > 8) {  // beyond the portable cluster size of 8
    AK_CUDA_CHECK(cudaFuncSetAttribute(staircase_kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
  }
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = static_cast<unsigned>(cluster_size);
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(static_cast<unsigned>(cluster_size), 1, 1);
  cfg.blockDim = dim3(kStaircaseThreads, 1, 1);
  cfg.dynamicSmemBytes = static_cast<size_t>(dynamic_smem_bytes);
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  int clusters = 0;
  AK_CUDA_CHECK(cudaOccupancyMaxActiveClusters(&clusters, reinterpret_cast<const void*>(staircase_kernel), &cfg));
  return clusters;
}

void staircase_launch(int device, float* out, long long ctas, long long iters, long long dynamic_smem_bytes,
                      float a, float b, bool store_all, cudaStream_t stream) {
  AK_REQUIRE(ctas >= 1 && ctas <= 0x7fffffffLL, "ctas must be in [1, 2^31)");
  AK_REQUIRE(iters >= 0 && iters <= 0x7fffffffLL, "iters must be in [0, 2^31)");
  AK_REQUIRE(dynamic_smem_bytes >= 0, "dynamic_smem_bytes must be >= 0");
  AK_REQUIRE(!store_all || out != nullptr, "check mode needs an output buffer");
  prepare(device);
  staircase_kernel<<<static_cast<unsigned>(ctas), kStaircaseThreads, static_cast<size_t>(dynamic_smem_bytes),
                     stream>>>(out, static_cast<int>(iters), a, b, store_all ? 1 : 0);
  AK_CHECK_LAUNCH();
}

}  // namespace accelkern
