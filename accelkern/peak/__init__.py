"""Compute-only peak ("speed of light") per dtype and instruction path: register-resident loops of one
instruction kind (csrc/peak) -- SIMT FMAs, warp-level mma.sync and warpgroup wgmma -- swept over the
launch shape, each tensor-core path first checked against a float64 reference.

Units: TFLOPS (TOPS for integer paths; an FMA counts 2), clocks in MHz, FLOP/clk/SM per SM per clock, bytes.

    fragments  fragment maps of the PTX ISA, element encodings, packing into words
    smem       wgmma shared-memory images and descriptors
    kernels    the kernel catalogue, launch-shape grids, FLOP per launch, availability per GPU and build
    operands   operands and result decoding;  check   the float64 check of one compiled kernel
    sweep      timing, the launch-shape sweep and the rows;  suite   the `validate` compute-ceiling suite
"""
from accelkern import _ext  # noqa: F401  (tests stand in a CPU model of the extension through it)
from accelkern.errors import AccelkernError  # noqa: F401
from accelkern.peak.check import CheckResult, check_kernel
from accelkern.peak.fragments import (ELEM_BITS, FAMILY_ELEMS, FAMILY_MNK, MMA_FAMILIES, encode, mma_a_index,
                                      mma_b_index, mma_c_index, pack_words, random_values, unpack_words,
                                      wgmma_a_index, wgmma_d_index)
from accelkern.peak.kernels import (ALL_KERNELS, DTYPES, MMA_CHAINS, MMA_KERNELS, PATH_LABEL, PATHS, SIMT_CHAINS,
                                    SIMT_KERNELS, WGMMA_KERNELS, WGMMA_LAYOUT, WGMMA_NC, Config, PeakKernel,
                                    binary_version, grid, kernel_note, launch_flops, select_kernels, unavailable)
from accelkern.peak.operands import (Operands, decode_packed16, mma_decode, mma_operands, poisoned_words,
                                     simt_operands, simt_reference, wgmma_decode, wgmma_kelems, wgmma_operands)
from accelkern.peak.smem import (K_STEP_BYTES, K_STEPS, K_TILE_BYTES, SWIZZLE_CODE, SmemLayout, build_image,
                                 decode_descriptor, descriptor_address, encode_descriptor, read_through_descriptors)
from accelkern.peak.suite import VALIDATE_DTYPES, validate_kernels, validate_rows
from accelkern.peak.sweep import (KernelResult, Launcher, arch_rate, calibrate_iters, measure_config, run,
                                  run_kernel)

__all__ = ["ALL_KERNELS", "AccelkernError", "CheckResult", "Config", "DTYPES", "ELEM_BITS", "FAMILY_ELEMS",
           "FAMILY_MNK", "K_STEPS", "K_STEP_BYTES", "K_TILE_BYTES", "KernelResult", "Launcher", "MMA_CHAINS",
           "MMA_FAMILIES", "MMA_KERNELS", "Operands", "PATHS", "PATH_LABEL", "PeakKernel", "SIMT_CHAINS",
           "SIMT_KERNELS", "SWIZZLE_CODE", "SmemLayout", "VALIDATE_DTYPES", "WGMMA_KERNELS", "WGMMA_LAYOUT",
           "WGMMA_NC", "arch_rate", "binary_version", "build_image", "calibrate_iters", "check_kernel",
           "decode_descriptor", "decode_packed16", "descriptor_address", "encode", "encode_descriptor", "grid",
           "kernel_note", "launch_flops", "measure_config", "mma_a_index", "mma_b_index", "mma_c_index",
           "mma_decode", "mma_operands", "pack_words", "poisoned_words", "random_values", "read_through_descriptors",
           "run", "run_kernel", "select_kernels", "simt_operands", "simt_reference", "unavailable", "unpack_words",
           "validate_kernels", "validate_rows", "wgmma_a_index", "wgmma_d_index", "wgmma_decode", "wgmma_kelems",
           "wgmma_operands"]
