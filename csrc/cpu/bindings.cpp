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
  std::vector<double> secs(cpus.size(), 0.0);
  TeamTiming t;
  {
    py::gil_scoped_release nogil;
    Team team(cpus);
    t = team.run([&](int w) { secs[w] = run_add_chain(passes); });
  }
  py::dict r;
  r["seconds"] = secs;
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
  if (!t.cycles.empty()) r["cycles"] = t.cycles;
  return r;
}

py::dict peak_run(PeakRun& self, uint64_t iters, uint64_t probe_passes) {
  std::vector<double> probe;
  TeamTiming t;
  {
    py::gil_scoped_release nogil;
    t = self.run(iters, probe_passes, &probe);
  }
  py::dict r = timing_dict(t);
  if (probe_passes) {
    r["probe_s"] = probe;
    r["probe_adds"] = double(probe_passes) * kChainAddsPerPass;
  }
  return r;
}

// ---- memory: bandwidth and latency kernels (section added by the memory family) ---------------

}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "accelkern's CPU kernels (compute-only chains, memory kernels) and CPU facts";
  m.def("build_info", &build_info, "arch and compiler of this build");
  m.def("cpuid", &cpuid_regs, py::arg("leaf"), py::arg("subleaf") = 0,
        "(eax, ebx, ecx, edx) of CPUID leaf/subleaf, or None off x86");
  m.def("xgetbv0", &xgetbv0, "XCR0: the register states the OS saves (0 when unavailable)");
  m.def("request_amx", &request_amx, "ask Linux for AMX tile data: (granted, why not)");
  m.def("chain_clock", &chain_clock, py::arg("cpus"), py::arg("passes"),
        "every CPU runs the dependent add chain at once: {'seconds': [...], 'adds': per CPU, 'wall_s'}");
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
}
