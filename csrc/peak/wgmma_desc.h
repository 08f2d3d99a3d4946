// wgmma shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format"), host and device.
// bits 0-13: start address >> 4; 16-29: leading dimension byte offset >> 4; 32-45: stride dimension
// byte offset >> 4; 49-51: base offset (0: patterns start on their natural boundary); 62-63: swizzle
// (0 none, 1 128B, 2 64B, 3 32B). Addresses and offsets are 16-byte granular.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define AK_HD __host__ __device__ __forceinline__
#else
#define AK_HD inline
#endif

namespace accelkern {

AK_HD constexpr uint64_t wgmma_desc_field(uint32_t bytes) { return (uint64_t(bytes) & 0x3FFFF) >> 4; }

AK_HD constexpr uint64_t wgmma_descriptor(uint32_t smem_addr, uint32_t lbo, uint32_t sbo, uint32_t swizzle,
                                          uint32_t base_offset = 0) {
  return wgmma_desc_field(smem_addr) | (wgmma_desc_field(lbo) << 16) | (wgmma_desc_field(sbo) << 32) |
         (uint64_t(base_offset & 0x7) << 49) | (uint64_t(swizzle & 0x3) << 62);
}

}  // namespace accelkern
