// Device facts torch does not expose, an SM-clock probe and the L2 flush. Plain launchers.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace accelkern {

struct DeviceAttributes {
  int device;
  int cc_major, cc_minor;
  int sm_count;
  int max_sm_clock_khz;      // peak SM clock the driver reports
  int mem_clock_khz;         // peak memory clock
  int mem_bus_width_bits;
  int l2_bytes;
  int persisting_l2_max_bytes;
  int smem_per_sm_bytes;
  int smem_per_block_bytes;
  int smem_per_block_optin_bytes;
  int regs_per_sm;
  int regs_per_block;
  int max_threads_per_sm;
  int max_threads_per_block;
  int max_blocks_per_sm;
  int warp_size;
  int async_engines;         // copy engines
  int runtime_version;       // cudaRuntimeGetVersion, e.g. 13000
  int driver_version;        // cudaDriverGetVersion
};

DeviceAttributes query_device_attributes(int device);

struct ClockProbe {
  long long cycles;  // clock64 ticks on the SM that ran the probe
  long long ns;      // %globaltimer nanoseconds over the same span
};
// Spins one thread for `spin_cycles` SM cycles; cycles/ns gives the SM clock while it ran.
ClockProbe probe_sm_clock(int device, long long spin_cycles, cudaStream_t stream);

// Overwrites `bytes` of `buf` (sized at least twice the L2) so that no earlier data stays in L2.
void l2_flush(void* buf, size_t bytes, int value, cudaStream_t stream);

}  // namespace accelkern
