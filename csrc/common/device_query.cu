#include "common/check.h"
#include "common/device_query.h"

namespace accelkern {

namespace {
int attr(cudaDeviceAttr a, int device, const char* name) {
  int v = 0;
  cudaError_t err = cudaDeviceGetAttribute(&v, a, device);
  if (err != cudaSuccess) check_cuda(err, name, __FILE__, __LINE__);
  return v;
}
}  // namespace

DeviceAttributes query_device_attributes(int device) {
  int count = 0;
  AK_CUDA_CHECK(cudaGetDeviceCount(&count));
  AK_REQUIRE(device >= 0 && device < count, "device index out of range (" + std::to_string(count) + " devices)");
  DeviceAttributes d{};
  d.device = device;
#define AK_ATTR(field, a) d.field = attr(a, device, "cudaDeviceGetAttribute(" #a ")")
  AK_ATTR(cc_major, cudaDevAttrComputeCapabilityMajor);
  AK_ATTR(cc_minor, cudaDevAttrComputeCapabilityMinor);
  AK_ATTR(sm_count, cudaDevAttrMultiProcessorCount);
  AK_ATTR(max_sm_clock_khz, cudaDevAttrClockRate);
  AK_ATTR(mem_clock_khz, cudaDevAttrMemoryClockRate);
  AK_ATTR(mem_bus_width_bits, cudaDevAttrGlobalMemoryBusWidth);
  AK_ATTR(l2_bytes, cudaDevAttrL2CacheSize);
  AK_ATTR(persisting_l2_max_bytes, cudaDevAttrMaxPersistingL2CacheSize);
  AK_ATTR(smem_per_sm_bytes, cudaDevAttrMaxSharedMemoryPerMultiprocessor);
  AK_ATTR(smem_per_block_bytes, cudaDevAttrMaxSharedMemoryPerBlock);
  AK_ATTR(smem_per_block_optin_bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin);
  AK_ATTR(regs_per_sm, cudaDevAttrMaxRegistersPerMultiprocessor);
  AK_ATTR(regs_per_block, cudaDevAttrMaxRegistersPerBlock);
  AK_ATTR(max_threads_per_sm, cudaDevAttrMaxThreadsPerMultiProcessor);
  AK_ATTR(max_threads_per_block, cudaDevAttrMaxThreadsPerBlock);
  AK_ATTR(max_blocks_per_sm, cudaDevAttrMaxBlocksPerMultiprocessor);
  AK_ATTR(warp_size, cudaDevAttrWarpSize);
  AK_ATTR(async_engines, cudaDevAttrAsyncEngineCount);
#undef AK_ATTR
  AK_CUDA_CHECK(cudaRuntimeGetVersion(&d.runtime_version));
  AK_CUDA_CHECK(cudaDriverGetVersion(&d.driver_version));
  return d;
}

__global__ void clock_probe_kernel(long long spin_cycles, long long* out) {
  unsigned long long t0, t1;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  long long c0 = clock64();
  long long c1 = c0;
  while (c1 - c0 < spin_cycles) c1 = clock64();
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t1));
  out[0] = c1 - c0;
  out[1] = static_cast<long long>(t1 - t0);
}

ClockProbe probe_sm_clock(int device, long long spin_cycles, cudaStream_t stream) {
  AK_REQUIRE(spin_cycles > 0, "spin_cycles must be positive");
  AK_CUDA_CHECK(cudaSetDevice(device));
  long long* d_out = nullptr;
  AK_CUDA_CHECK(cudaMallocAsync(&d_out, 2 * sizeof(long long), stream));
  clock_probe_kernel<<<1, 1, 0, stream>>>(spin_cycles, d_out);
  cudaError_t launch = cudaGetLastError();
  long long h[2] = {0, 0};
  cudaError_t copy = launch == cudaSuccess
                         ? cudaMemcpyAsync(h, d_out, sizeof(h), cudaMemcpyDeviceToHost, stream)
                         : launch;
  cudaError_t sync = copy == cudaSuccess ? cudaStreamSynchronize(stream) : copy;
  cudaFreeAsync(d_out, stream);
  AK_CUDA_CHECK(sync);
  return ClockProbe{h[0], h[1]};
}

void l2_flush(void* buf, size_t bytes, int value, cudaStream_t stream) {
  AK_REQUIRE(buf != nullptr && bytes > 0, "l2_flush needs a non-empty buffer");
  AK_CUDA_CHECK(cudaMemsetAsync(buf, value & 0xff, bytes, stream));
}

}  // namespace accelkern
