"""Memory bandwidth: copy / read / write / triad kernels (accelkern._C on CUDA, torch elsewhere), the
copy engine (cudaMemcpyAsync device-to-device), host<->device over pinned memory, size sweeps and a short
launch-shape auto-tune. Sizes are bytes, bandwidths TB/s (1e12 B/s), times seconds.

Byte conventions (every row carries bytes_read and bytes_written per call):
  copy, ce, torch (Tensor.copy_), h2d, d2h   read N, write N            (N = bytes per buffer)
  read    read N, write 4 B per block (the stored partial checksums)
  write   write N
  triad   a = b + s*c over N/4 fp32 elements: read 2N, write N
`value` (TB/s) counts read + written bytes (STREAM / BabelStream style); `one_direction` is the larger of
the two over the same time (nvbandwidth style: the copy rate). A call with passes > 1 moves passes times
as much. Host links (h2d, d2h) get no % of the HBM spec.

Cache policy: the HBM figure must not be served from L2. A buffer set (all buffers of one call) of at
least 8x the L2 is used alone (whatever the previous call left in L2 is at the far end of the buffers,
which the next call reaches last); smaller sets are rotated until the rotation exceeds 3x the L2, or, when
that does not fit, the L2 is flushed before each call. On a CPU the cache is what sysfs says the CPUs in
use can reach (accelkern.hostcpu.caches), bounded to what is plausible, and the default buffer is 8x that within 2 GiB
per working set and a quarter of free memory. The size sweep is different on purpose ("hot"): one set is
reused call after call with L2-only loads (hint l2) and a tile schedule that never re-reads a tile
before all others, so sizes that fit in the L2 show the L2 plateau (not L1) and larger ones HBM.

Modules: kernels (names, Traffic, LaunchShape), schedule (the kernels' tile order, modelled), references,
workloads, plan (sizes, cache policy, free memory), measure, tune, sweep, plot, summary,
validate_suite (registers the `hbm` validate suite).
"""
from accelkern.memory.kernels import (COLD_HINTS, CUDA_ONLY, DEFAULT_SIZE, DEFAULT_THREADS, HINTS, HOT_HINT,
                                      IN_FLIGHT_TARGET, KERNEL_HELP, KERNELS, LINK_KERNELS, LOADS_PER_ITEM,
                                      OWN_KERNELS, THREADS_CHOICES, TRIAD_SCALAR, UNROLLS, VECS, WRITE_PATTERN,
                                      LaunchShape, Traffic, choose_launch, default_unroll, device_launch,
                                      max_buffers, parse_choices, parse_kernels, traffic)
from accelkern.memory.measure import measure_workload, run_kernel, settled, size_text, timing_caveat
from accelkern.memory.plan import (CPU_SET_CAP, HOT_TARGET_BYTES, CachePlan, available_bytes, cache_bytes,
                                   cache_plan, cpu_default_size, cpu_set_cap, default_size, host_available_bytes,
                                   hot_passes, plan_for, require_memory, validate_size)
from accelkern.memory.plot import plot_sweep
from accelkern.memory.references import (as_int32, checksum, filled_with, partials_sum, pattern_bytes,
                                         poison_fill_, triad_error)
from accelkern.memory.summary import summary_lines
from accelkern.memory.sweep import SweepPoint, cache_transition, run_sweep, sweep_sizes, transition_line
from accelkern.memory.tune import TUNE_RULE, TuneResult, TuneTrial, tune_kernel
from accelkern.memory.validate_suite import register as _register_suite
from accelkern.memory.workloads import (GUARD_BYTES, KernelWorkload, MemcpyWorkload, TorchWorkload, Workload,
                                        make_workload)

__all__ = ["COLD_HINTS", "CPU_SET_CAP", "CUDA_ONLY", "DEFAULT_SIZE", "DEFAULT_THREADS", "GUARD_BYTES", "HINTS",
           "HOT_HINT", "HOT_TARGET_BYTES", "IN_FLIGHT_TARGET", "KERNEL_HELP", "KERNELS", "LINK_KERNELS",
           "LOADS_PER_ITEM", "OWN_KERNELS", "THREADS_CHOICES", "TRIAD_SCALAR", "TUNE_RULE", "UNROLLS", "VECS",
           "WRITE_PATTERN", "as_int32", "available_bytes", "cache_bytes", "cache_plan", "cache_transition",
           "CachePlan", "checksum", "choose_launch", "cpu_default_size", "cpu_set_cap", "default_size",
           "default_unroll", "device_launch", "filled_with", "host_available_bytes", "hot_passes", "KernelWorkload",
           "LaunchShape", "make_workload", "max_buffers", "measure_workload", "MemcpyWorkload", "parse_choices",
           "parse_kernels", "partials_sum", "pattern_bytes", "plan_for", "plot_sweep", "poison_fill_",
           "require_memory", "run_kernel", "run_sweep", "settled", "size_text", "summary_lines", "sweep_sizes",
           "SweepPoint", "timing_caveat", "TorchWorkload", "traffic", "Traffic", "transition_line", "triad_error",
           "tune_kernel", "TuneResult", "TuneTrial", "validate_size", "Workload"]

_register_suite()
