// accelkern._cpu: the CPU extension's only file that includes pybind11. It turns Python arguments into the
// plain calls of common/ and the families (peak/, memory/); kernels never see Python objects. Built with a
// C++ compiler alone: no CUDA, no libtorch.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "common/clock_chain.h"
#include "common/cpuid.h"
#include "common/platform.h"
#include "common/team.h"
#include "memory/memory.h"
#include "peak/peak.h"

namespace py = pybind11;
using namespace accelkern_cpu;

namespace {

// ---- common: build, CPUID, clock ------------------------------------------------------------

py::dict build_info() {
  py::dict r;
  r["arch"] = build_arch();
#if defined(__clang__)
  r["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  r["compiler"] = std::string("gcc ") + __VERSION__;
#else
  r["compiler"] = "unknown";
#endif
  return r;
}

py::object cpuid_regs(uint32_t leaf, uint32_t subleaf) {
  CpuidRegs r;
  if (!cpuid(leaf, subleaf, &r)) return py::none();
  return py::make_tuple(r.eax, r.ebx, r.ecx, r.edx);
}

py::tuple request_amx() {
  std::string why;
  bool ok = request_amx_permission(&why);
  return py::make_tuple(ok, why);
}

// Every CPU in `cpus` runs the add chain at once; returns each one's seconds.
py::dict chain_clock(const std::vector<int>& cpus, uint64_t passes) {
  std::vector<ChainTime> ct(cpus.size());
  TeamTiming t;
  {
    py::gil_scoped_release nogil;
    Team team(cpus);
    t = team.run([&](int w) { ct[w] = run_add_chain(passes); });
  }
  std::vector<double> secs, cpu;
  for (const auto& c : ct) {
    secs.push_back(c.wall_s);
    cpu.push_back(c.cpu_s);
  }
  py::dict r;
  r["seconds"] = secs;
  r["cpu_seconds"] = cpu;
  r["adds"] = double(passes) * kChainAddsPerPass;
  r["wall_s"] = t.wall_s;
  return r;
}

// ---- peak: compute-only chains --------------------------------------------------------------

py::list peak_kernel_list() {
  py::list out;
  for (const auto& k : peak_kernels()) {
    py::dict d;
    d["name"] = k.name;
    d["dtype"] = k.dtype;
    d["path"] = k.path;
    d["instruction"] = k.instruction;
    d["isa"] = k.isa;
    d["features"] = k.features;
    d["ops_per_update"] = k.ops_per_update;
    d["instructions_per_update"] = k.instructions_per_update;
    d["acc_bytes"] = k.acc_bytes;
    d["value_type"] = k.value_type;
    d["check"] = k.check;
    d["step"] = k.step;
    d["step_part"] = k.step_part;
    d["needs_amx"] = k.needs_amx;
    d["built"] = k.built;
    d["why_not_built"] = k.why_not_built;
    py::list shapes;
    for (const auto& v : k.variants) shapes.append(py::make_tuple(v.accumulators, v.unroll));
    d["shapes"] = shapes;
    out.append(d);
  }
  return out;
}

std::unique_ptr<PeakRun> make_peak_run(const std::string& name, int accumulators, int unroll,
                                       const std::vector<int>& cpus) {
  const PeakKernel* k = find_peak_kernel(name);
  if (!k) throw py::value_error("no CPU peak kernel named '" + name + "'");
  py::gil_scoped_release nogil;
  return std::make_unique<PeakRun>(*k, accumulators, unroll, cpus);
}

py::dict timing_dict(const TeamTiming& t) {
  py::dict r;
  r["wall_s"] = t.wall_s;
  r["thread_s"] = t.thread_s;
  r["thread_cpu_s"] = t.thread_cpu_s;
  if (!t.cycles.empty()) r["cycles"] = t.cycles;
  return r;
}

py::dict peak_run(PeakRun& self, uint64_t iters, uint64_t probe_passes) {
  std::vector<ChainTime> probe;
  TeamTiming t;
  {
    py::gil_scoped_release nogil;
    t = self.run(iters, probe_passes, &probe);
  }
  py::dict r = timing_dict(t);
  if (probe_passes) {
    std::vector<double> wall, cpu;
    for (const auto& c : probe) {
      wall.push_back(c.wall_s);
      cpu.push_back(c.cpu_s);
    }
    r["probe_s"] = wall;
    r["probe_cpu_s"] = cpu;
    r["probe_adds"] = double(probe_passes) * kChainAddsPerPass;
  }
  return r;
}

// ---- memory: bandwidth and latency kernels (section added by the memory family) ---------------

py::list memory_kernel_list() {
  py::list out;
  for (const auto& k : memory_kernels()) {
    py::dict d;
    d["name"] = k.name;
    d["op"] = k.op;
    d["path"] = k.path;
    d["isa"] = k.isa;
    d["features"] = k.features;
    d["formula"] = k.formula;
    d["arrays"] = k.arrays;
    d["streaming"] = k.streaming;
    d["outputs"] = k.outputs;
    d["inputs"] = k.inputs;
    d["elem_bytes"] = int(sizeof(double));
    d["loads_per_elem"] = k.loads_per_elem;
    d["stores_per_elem"] = k.stores_per_elem;
    d["write_allocate_per_elem"] = k.write_allocate_per_elem;
    d["vector_bytes"] = k.vector_bytes;
    d["unroll"] = k.unroll;
    d["block_elems"] = k.block_elems;
    d["load_instr"] = k.load_instr;
    d["store_instr"] = k.store_instr;
    d["scalar"] = k.scalar;
    d["built"] = k.built;
    d["why_not_built"] = k.why_not_built;
    out.append(d);
  }
  return out;
}

// A worker's array as a Python buffer (float64, capacity plus guard); keeps its run alive.
struct MemoryArray {
  double* p;
  size_t n;
};

py::dict placement_dict(const Placement& p) {
  py::dict d;
  d["cpu_pinned"] = p.cpu_pinned;
  d["cpu_touched"] = p.cpu_touched;
  d["node_touched"] = p.node_touched;
  d["page_nodes"] = p.page_nodes;
  d["note"] = p.note;
  return d;
}

std::unique_ptr<MemoryRun> make_memory_run(const std::string& name, size_t elems, const std::vector<int>& cpus) {
  const MemoryKernel* k = find_memory_kernel(name);
  if (!k) throw py::value_error("no CPU memory kernel named '" + name + "'");
  py::gil_scoped_release nogil;
  return std::make_unique<MemoryRun>(*k, elems, cpus);
}

py::dict memory_run(MemoryRun& self, uint64_t passes) {
  TeamTiming t;
  {
    py::gil_scoped_release nogil;
    t = self.run(passes);
  }
  return timing_dict(t);
}

py::list memory_verify(MemoryRun& self) {
  std::vector<WorkerCheck> checks;
  {
    py::gil_scoped_release nogil;
    checks = self.verify();
  }
  py::list out;
  for (const auto& c : checks) {
    py::dict d;
    d["elements"] = c.elements;
    d["mismatches"] = c.mismatches;
    d["first_bad"] = c.first_bad == SIZE_MAX ? py::object(py::none()) : py::object(py::int_(c.first_bad));
    d["guard_damaged"] = c.guard_damaged;
    if (self.kernel().op == "read") {
      d["got_sum"] = c.got_sum;
      d["want_sum"] = c.want_sum;
    }
    out.append(d);
  }
  return out;
}

std::unique_ptr<LatencyRun> make_latency_run(int cpu, size_t capacity_bytes) {
  py::gil_scoped_release nogil;
  return std::make_unique<LatencyRun>(cpu, capacity_bytes);
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "accelkern's CPU kernels (compute-only chains, memory kernels) and CPU facts";
  m.def("build_info", &build_info, "arch and compiler of this build");
  m.def("cpuid", &cpuid_regs, py::arg("leaf"), py::arg("subleaf") = 0,
        "(eax, ebx, ecx, edx) of CPUID leaf/subleaf, or None off x86");
  m.def("xgetbv0", &xgetbv0, "XCR0: the register states the OS saves (0 when unavailable)");
  m.def("request_amx", &request_amx, "ask Linux for AMX tile data: (granted, why not)");
  m.def("chain_clock", &chain_clock, py::arg("cpus"), py::arg("passes"),
        "every CPU runs the dependent add chain at once: {'seconds', 'cpu_seconds' (on its core), 'adds' per CPU, "
        "'wall_s'}");
  m.attr("CHAIN_ADDS_PER_PASS") = kChainAddsPerPass;
  m.def("peak_kernels", &peak_kernel_list, "the compute-only kernels and their declarations");

  py::class_<PeakRun>(m, "PeakRun")
      .def(py::init(&make_peak_run), py::arg("name"), py::arg("accumulators"), py::arg("unroll"),
           py::arg("cpus"))
      .def("run", &peak_run, py::arg("iters"), py::arg("probe_passes") = 0,
           "every worker runs `iters` passes at once: {'wall_s', 'thread_s', 'cycles'?, 'probe_s'?}")
      .def("reset", [](PeakRun& s) { py::gil_scoped_release nogil; s.reset(); })
      .def("values", [](const PeakRun& s, int w) { return py::bytes(s.values(w)); }, py::arg("worker"))
      .def("initial_values", [](const PeakRun& s) { return py::bytes(s.initial_values()); })
      .def_property_readonly("cpus", [](PeakRun& s) { return s.team().cpus(); })
      .def_property_readonly("has_cycles", [](PeakRun& s) { return s.team().has_cycles(); })
      .def_property_readonly("cycles_note", [](PeakRun& s) { return s.team().cycles_note(); });

  // ---- memory family bindings below ----
  m.def("memory_kernels", &memory_kernel_list, "the memory kernels and their declarations (traffic per element)");
  m.attr("MEMORY_GUARD_ELEMS") = kGuardElems;
  m.attr("MEMORY_ARRAY_STAGGER") = kArrayStagger;
  m.attr("LINE_BYTES") = kLineBytes;

  py::class_<MemoryArray>(m, "MemoryArray", py::buffer_protocol())
      .def_buffer([](MemoryArray& a) {
        return py::buffer_info(a.p, sizeof(double), py::format_descriptor<double>::format(), 1,
                               {py::ssize_t(a.n)}, {py::ssize_t(sizeof(double))});
      })
      .def("__len__", [](const MemoryArray& a) { return a.n; });

  py::class_<MemoryRun>(m, "MemoryRun")
      .def(py::init(&make_memory_run), py::arg("name"), py::arg("elems"), py::arg("cpus"),
           "a memory kernel on pinned workers, each with `elems` elements per array, allocated and first touched "
           "by the worker")
      .def("run", &memory_run, py::arg("passes") = 1,
           "every worker runs `passes` passes at once: {'wall_s', 'thread_s', 'thread_cpu_s', 'cycles'?}")
      .def("set_kernel", [](MemoryRun& s, const std::string& name) {
             const MemoryKernel* k = find_memory_kernel(name);
             if (!k) throw py::value_error("no CPU memory kernel named '" + name + "'");
             s.set_kernel(*k);
           }, py::arg("name"), "another kernel on the same arrays (same op, another path or store kind)")
      .def_property_readonly("kernel", [](const MemoryRun& s) { return s.kernel().name; })
      .def("set_elems", [](MemoryRun& s, size_t n) { s.set_elems(n); }, py::arg("elems"),
           "run on the first `elems` elements per worker and array")
      .def("prepare_check", [](MemoryRun& s, uint64_t seed) { py::gil_scoped_release nogil; s.prepare_check(seed); },
           py::arg("seed") = 1, "inputs random small integers, outputs and guards poisoned")
      .def("verify", &memory_verify, "per worker: {'elements', 'mismatches', 'first_bad', 'guard_damaged', sums}")
      .def("array", [](const MemoryRun& s, int w, int j) {
             return MemoryArray{s.array(w, j), s.capacity() + kGuardElems};
           }, py::arg("worker"), py::arg("index"), py::keep_alive<0, 1>(),
           "a worker's array j (outputs first) as a float64 buffer of capacity + guard elements")
      .def("sums", [](const MemoryRun& s) {
             std::vector<uint64_t> out;
             for (size_t w = 0; w < s.sums().size() / 8; ++w) out.push_back(s.sums()[w * 8]);
             return out;
           }, "read's checksum per worker (the last pass)")
      .def_property_readonly("placement", [](const MemoryRun& s) {
             py::list out;
             for (const auto& p : s.placement()) out.append(placement_dict(p));
             return out;
           })
      .def_property_readonly("elems", &MemoryRun::elems)
      .def_property_readonly("capacity", &MemoryRun::capacity)
      .def_property_readonly("cpus", [](MemoryRun& s) { return s.team().cpus(); })
      .def_property_readonly("has_cycles", [](MemoryRun& s) { return s.team().has_cycles(); })
      .def_property_readonly("cycles_note", [](MemoryRun& s) { return s.team().cycles_note(); });

  py::class_<LatencyRun>(m, "LatencyRun")
      .def(py::init(&make_latency_run), py::arg("cpu"), py::arg("capacity_bytes"),
           "a pointer chase on one pinned thread over a buffer it allocates and first touches")
      .def("build", [](LatencyRun& s, size_t bytes, uint64_t seed) { py::gil_scoped_release nogil; s.build(bytes, seed); },
           py::arg("bytes"), py::arg("seed") = 1, "one random cycle through the 64-byte lines of the first `bytes`")
      .def("chase", [](LatencyRun& s, uint64_t steps) {
             TeamTiming t;
             {
               py::gil_scoped_release nogil;
               t = s.chase(steps);
             }
             return timing_dict(t);
           }, py::arg("steps"), "`steps` dependent loads (a multiple of 8), continuing where the last chase ended")
      .def("cycle_length", [](LatencyRun& s) { py::gil_scoped_release nogil; return s.cycle_length(); },
           "lines walked until the chain returns to its start (== lines when intact, 0 when broken)")
      .def_property_readonly("lines", &LatencyRun::lines)
      .def_property_readonly("placement", [](const LatencyRun& s) { return placement_dict(s.placement()); })
      .def_property_readonly("has_cycles", [](LatencyRun& s) { return s.team().has_cycles(); })
      .def_property_readonly("cycles_note", [](LatencyRun& s) { return s.team().cycles_note(); });
}
