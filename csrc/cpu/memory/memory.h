// accelkern's CPU memory kernels: STREAM's copy, scale, add and triad, a read-only reduction and a write-only
// fill, each with normal and streaming (non-temporal) stores where it stores, on 512-bit, 256-bit and scalar
// paths; and a pointer chase for latency. Elements are 8-byte doubles (STREAM's and likwid-bench's unit).
//
// Each kernel declares next to its code what one element costs: explicit 8-byte loads and stores (the bytes
// STREAM and likwid-bench credit) and the write-allocate loads its normal stores add (a cache line is read
// before it is written; streaming stores skip that read). Python reads the declarations, never restates them.
//
// Arrays: a kernel's arrays are outputs first, then inputs (read: its one input). Values are random small
// integers (|v| < 2^20, never zero), so every result is exact whatever the path rounds or fuses, and the
// check compares bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/team.h"

namespace accelkern_cpu {

// One pass over n elements of the arrays (n a multiple of the kernel's block_elems); s: the scalar;
// sum: where read stores its checksum (the sum of the 64-bit words of its input, mod 2^64).
using StreamFn = void (*)(double* const* arrays, size_t n, double s, uint64_t* sum);

struct MemoryKernel {
  std::string name;             // "<op>_<path>[_nt]", e.g. "triad_avx512_nt"
  std::string op;               // read write copy scale add triad
  std::string path;             // avx512 avx2 scalar
  std::string isa;              // in words: "AVX-512F"
  std::string features;         // compiler feature names ("avx512f"; "" for the baseline)
  std::string formula;          // "a[i] = b[i] + s*c[i]"
  std::string arrays;           // array names in argument order, outputs first: "abc"
  bool streaming = false;       // non-temporal stores
  int outputs = 0;              // arrays written (0 or 1)
  int inputs = 0;               // arrays read
  int loads_per_elem = 0;       // explicit 8-byte loads per element
  int stores_per_elem = 0;      // explicit 8-byte stores per element
  int write_allocate_per_elem = 0;  // 8-byte reads normal stores add (0 with streaming stores)
  int vector_bytes = 8;         // bytes per load/store instruction
  int unroll = 1;               // vectors per loop iteration
  int block_elems = 1;          // n is a multiple of this
  std::string load_instr;       // as the ISA names it: "vmovapd zmm"
  std::string store_instr;      // "vmovntpd zmm"
  double scalar = 0;            // the s a run uses
  bool built = true;            // false: not compiled for this machine (why_not_built says why)
  std::string why_not_built;
  StreamFn fn = nullptr;
};

const std::vector<MemoryKernel>& memory_kernels();
const MemoryKernel* find_memory_kernel(const std::string& name);

// Builders: every ISA file adds its kernels (or declarations with why_not_built).
void add_stream_avx512_kernels(std::vector<MemoryKernel>& out);
void add_stream_avx2_kernels(std::vector<MemoryKernel>& out);
void add_stream_scalar_kernels(std::vector<MemoryKernel>& out);

// Fills a MemoryKernel's declaration fields common to every path from its op and store kind.
void declare_op(MemoryKernel& k, const std::string& op, bool streaming);

// Memory a worker owns: mapped 2 MiB-aligned, first touched by the worker (so Linux places it on the worker's
// NUMA node), unmapped on destruction. huge_pages: advise transparent huge pages (fewer TLB misses for a
// random chase; where Linux defragments on such a fault, allocation is much slower, so the bandwidth arrays
// take the pages the system gives by default, as STREAM and likwid-bench do).
class WorkerBuffer {
 public:
  WorkerBuffer() = default;
  WorkerBuffer(size_t bytes, bool huge_pages);
  ~WorkerBuffer();
  WorkerBuffer(WorkerBuffer&& o) noexcept;
  WorkerBuffer& operator=(WorkerBuffer&& o) noexcept;
  WorkerBuffer(const WorkerBuffer&) = delete;
  WorkerBuffer& operator=(const WorkerBuffer&) = delete;
  unsigned char* data() const { return p_; }
  size_t bytes() const { return bytes_; }

 private:
  void release();
  unsigned char* base_ = nullptr;   // the mapping
  size_t mapped_ = 0;
  unsigned char* p_ = nullptr;      // 2 MiB-aligned start within it
  size_t bytes_ = 0;
};

// Where a worker's memory went: the CPU and node the worker ran on when it first touched its arrays, and
// the NUMA node of sampled pages (-1: unknown, e.g. no move_pages).
struct Placement {
  int cpu_pinned = -1;
  int cpu_touched = -1;
  int node_touched = -1;
  std::vector<int> page_nodes;
  std::string note;
};

// Fills *out on the calling thread: its CPU and node now, and the nodes of `samples` pages of [p, p + bytes).
void record_placement(Placement* out, int pinned, const void* p, size_t bytes, int samples);

// What a kernel's check found on one worker.
struct WorkerCheck {
  size_t elements = 0;           // output elements compared (read: input words summed)
  size_t mismatches = 0;         // wrong output elements (read: 1 if the sum differs)
  size_t first_bad = SIZE_MAX;   // index of the first wrong element
  size_t guard_damaged = 0;      // guard elements past the end that were written
  uint64_t got_sum = 0, want_sum = 0;   // read only
};

// Every byte past a worker's n elements of an array, up to this many elements, must keep its poison.
constexpr size_t kGuardElems = 64;
// Offset of array j within its worker's buffer: j x this many bytes past a 2 MiB boundary (so the arrays'
// streams do not share the low address bits that make loads wait on unrelated stores).
constexpr size_t kArrayStagger = 320;

// One kernel on a team of pinned threads, each with its own arrays of `capacity` elements.
class MemoryRun {
 public:
  // Allocates and first touches on each worker: inputs random small integers (seed 1), outputs poisoned, so a
  // check may run at once without prepare_check.
  MemoryRun(const MemoryKernel& k, size_t capacity_elems, const std::vector<int>& cpus);
  // Another kernel on the same arrays (same op on another path, or the other store kind).
  void set_kernel(const MemoryKernel& k);
  // Use the first n elements per worker and array (n <= capacity, a multiple of block_elems).
  void set_elems(size_t n);
  size_t elems() const { return n_; }
  size_t capacity() const { return cap_; }
  // Every worker runs `passes` passes over its arrays at once.
  TeamTiming run(uint64_t passes);
  // Inputs random small integers (seeded), outputs and guards poisoned (NaN with a marker payload).
  void prepare_check(uint64_t seed);
  // Compares every output element with the formula applied to the inputs, and the guards with the poison.
  std::vector<WorkerCheck> verify();
  const std::vector<Placement>& placement() const { return placement_; }
  double* array(int worker, int j) const;
  const MemoryKernel& kernel() const { return *k_; }
  Team& team() { return team_; }
  const std::vector<uint64_t>& sums() const { return sums_; }

 private:
  const MemoryKernel* k_;
  size_t cap_, n_;
  int narrays_;
  Team team_;
  std::vector<WorkerBuffer> buf_;
  std::vector<std::vector<double*>> arrays_;
  std::vector<uint64_t> sums_;
  std::vector<Placement> placement_;
};

// Pointer chase on one pinned thread: a random cyclic permutation of the 64-byte lines of a buffer, each
// line holding the address of the next, walked one dependent load at a time.
class LatencyRun {
 public:
  LatencyRun(int cpu, size_t capacity_bytes);
  // Links the first `bytes` (whole lines, >= 2 lines) into one random cycle (Sattolo's algorithm).
  void build(size_t bytes, uint64_t seed);
  // Walks `steps` loads (a multiple of 8); the timing is the walker's (cycles where perf events work).
  TeamTiming chase(uint64_t steps);
  // Loads from the start until the chain returns to it: the cycle's length (== lines() when intact).
  uint64_t cycle_length();
  size_t lines() const { return lines_; }
  const Placement& placement() const { return placement_; }
  Team& team() { return team_; }

 private:
  Team team_;
  WorkerBuffer buf_;
  size_t lines_ = 0;
  void* cursor_ = nullptr;       // where the next chase continues (never back over the lines just loaded)
  Placement placement_;
};

constexpr size_t kLineBytes = 64;

}  // namespace accelkern_cpu
