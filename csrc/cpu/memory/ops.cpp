// What each memory operation is, whatever the path: its formula, arrays and traffic per element (the table
// the kernels of stream_*.cpp implement; Python reads it through memory_kernels()).
#include <stdexcept>

#include "memory/memory.h"

namespace accelkern_cpu {

namespace {

struct OpDecl {
  const char* op;
  const char* formula;
  const char* arrays;   // outputs first
  int outputs, inputs;
  int loads, stores;    // explicit 8-byte loads and stores per element
  double scalar;
};

// The four STREAM kernels as stream.c names their arrays, plus a read-only sum and a write-only fill.
// s = 3 keeps small-integer values exact; the write value is not a repeated byte, so no compiler can turn the
// loop into memset.
constexpr OpDecl kOps[] = {
    {"read", "sum += a[i] (64-bit integer adds of the words)", "a", 0, 1, 1, 0, 0.0},
    {"write", "a[i] = s", "a", 1, 0, 0, 1, 1.5},
    {"copy", "c[i] = a[i]", "ca", 1, 1, 1, 1, 0.0},
    {"scale", "b[i] = s*c[i]", "bc", 1, 1, 1, 1, 3.0},
    {"add", "c[i] = a[i] + b[i]", "cab", 1, 2, 2, 1, 0.0},
    {"triad", "a[i] = b[i] + s*c[i]", "abc", 1, 2, 2, 1, 3.0},
};

}  // namespace

void declare_op(MemoryKernel& k, const std::string& op, bool streaming) {
  for (const auto& d : kOps) {
    if (op != d.op) continue;
    if (streaming && d.stores == 0) throw std::logic_error(op + " stores nothing: no streaming variant");
    k.op = op;
    k.formula = d.formula;
    k.arrays = d.arrays;
    k.outputs = d.outputs;
    k.inputs = d.inputs;
    k.loads_per_elem = d.loads;
    k.stores_per_elem = d.stores;
    k.streaming = streaming;
    // a normal store first reads the line it writes (write-allocate); a streaming store writes it whole
    k.write_allocate_per_elem = streaming ? 0 : d.stores;
    k.scalar = d.scalar;
    k.name = op + "_" + k.path + (streaming ? "_nt" : "");
    return;
  }
  throw std::logic_error("no memory op named " + op);
}

}  // namespace accelkern_cpu
