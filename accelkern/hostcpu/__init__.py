"""The CPU as a device: what it is (CPUID decoded, microarchitecture, topology, caches) and the clock its
cores really run at under load. A facts layer: it imports no measuring family.

  cpuid      raw CPUID/XGETBV registers -> vendor, family/model/stepping, brand, ISA features (one decoder)
  microarch  family/model (x86) or MIDR part (Arm) -> the microarchitecture key of the rate table
  topology   physical cores, threads per core, sockets, NUMA nodes; one CPU per core to pin threads to
  caches     data caches per level from sysfs (bounded where a VM reports the host's)
  clock      the core clock measured under load (perf cycles, or a dependent add chain of known latency)
  facts      CpuFacts: all of the above for this machine, each unreadable field with its reason
"""
