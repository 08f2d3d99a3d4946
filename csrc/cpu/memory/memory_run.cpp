// The registry of memory kernels, worker-owned buffers, and MemoryRun: a kernel on pinned threads whose
// arrays each worker allocates and first touches itself, with the check that the kernel did what it says.
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include "common/cpuid.h"
#include "memory/memory.h"
#include "memory/values.h"

namespace accelkern_cpu {

const std::vector<MemoryKernel>& memory_kernels() {
  static const std::vector<MemoryKernel> all = [] {
    std::vector<MemoryKernel> v;
    add_stream_avx512_kernels(v);
    add_stream_avx2_kernels(v);
    add_stream_scalar_kernels(v);
    return v;
  }();
  return all;
}

const MemoryKernel* find_memory_kernel(const std::string& name) {
  for (const auto& k : memory_kernels())
    if (k.name == name) return &k;
  return nullptr;
}

// ---- worker-owned memory -------------------------------------------------------------------------

namespace {
constexpr size_t kHuge = size_t(2) << 20;   // a transparent huge page: fewer TLB misses on large sets
size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }
}  // namespace

WorkerBuffer::WorkerBuffer(size_t bytes, bool huge_pages) {
  mapped_ = round_up(bytes, kHuge) + kHuge;
  void* m = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    mapped_ = 0;
    throw std::bad_alloc();
  }
  base_ = static_cast<unsigned char*>(m);
  p_ = reinterpret_cast<unsigned char*>(round_up(reinterpret_cast<uintptr_t>(base_), kHuge));
  bytes_ = bytes;
#if defined(MADV_HUGEPAGE)
  if (huge_pages) madvise(p_, round_up(bytes, kHuge), MADV_HUGEPAGE);  // a hint: refused where THP is off
#else
  (void)huge_pages;
#endif
}

WorkerBuffer::~WorkerBuffer() { release(); }

WorkerBuffer::WorkerBuffer(WorkerBuffer&& o) noexcept { *this = std::move(o); }

WorkerBuffer& WorkerBuffer::operator=(WorkerBuffer&& o) noexcept {
  if (this != &o) {
    release();
    base_ = o.base_;
    mapped_ = o.mapped_;
    p_ = o.p_;
    bytes_ = o.bytes_;
    o.base_ = o.p_ = nullptr;
    o.mapped_ = o.bytes_ = 0;
  }
  return *this;
}

void WorkerBuffer::release() {
  if (base_) munmap(base_, mapped_);
  base_ = p_ = nullptr;
  mapped_ = bytes_ = 0;
}

// ---- placement -----------------------------------------------------------------------------------

// The CPU and node the calling thread runs on, and the nodes of up to `samples` pages of [p, p + bytes).
void record_placement(Placement* out, int pinned, const void* p, size_t bytes, int samples) {
  out->cpu_pinned = pinned;
  out->cpu_touched = sched_getcpu();
#if defined(__linux__) && defined(SYS_getcpu) && defined(SYS_move_pages)
  unsigned cpu = 0, node = 0;
  if (syscall(SYS_getcpu, &cpu, &node, nullptr) == 0) out->node_touched = static_cast<int>(node);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<void*> pages;
  for (int i = 0; i < samples && bytes; ++i) {
    size_t off = bytes / page * page * static_cast<size_t>(i) / static_cast<size_t>(samples);
    pages.push_back(const_cast<unsigned char*>(static_cast<const unsigned char*>(p)) + off / page * page);
  }
  std::vector<int> status(pages.size(), -1);
  // nodes == nullptr: move_pages only reports where each page is
  if (!pages.empty() &&
      syscall(SYS_move_pages, 0, pages.size(), pages.data(), nullptr, status.data(), 0) == 0) {
    out->page_nodes = status;
  } else {
    out->note = std::string("move_pages could not say where the pages are: ") + std::strerror(errno);
  }
#else
  (void)p;
  (void)bytes;
  (void)samples;
  out->note = "page placement is read on Linux only";
#endif
}

// ---- MemoryRun -----------------------------------------------------------------------------------

namespace {
void runnable_or_throw(const MemoryKernel& k) {
  if (!k.built) throw std::runtime_error(k.name + " is not built: " + k.why_not_built);
  std::string missing;
  if (!compiler_says_supported(k.features, &missing))
    throw std::runtime_error(k.name + " needs " + missing + ", which this CPU (or its OS) does not offer");
}
}  // namespace

MemoryRun::MemoryRun(const MemoryKernel& k, size_t capacity_elems, const std::vector<int>& cpus)
    : k_(&k), cap_(capacity_elems), n_(capacity_elems), narrays_(static_cast<int>(k.arrays.size())), team_(cpus) {
  runnable_or_throw(k);
  if (cap_ == 0 || cap_ % k.block_elems)
    throw std::invalid_argument(k.name + ": elements per worker must be a positive multiple of " +
                                std::to_string(k.block_elems) + " (got " + std::to_string(cap_) + ")");
  const int nw = team_.size();
  buf_.resize(size_t(nw) * narrays_);
  arrays_.assign(nw, std::vector<double*>(narrays_, nullptr));
  sums_.assign(size_t(nw) * 8, 0);
  placement_.resize(nw);
  std::vector<std::string> errors(nw);
  // each worker maps and first touches its own arrays: Linux backs a page on the node of the CPU that
  // touches it first, so the worker's memory is its own node's
  team_.each([&](int w) {
    try {
      for (int j = 0; j < narrays_; ++j) {
        const size_t bytes = j * kArrayStagger + (cap_ + kGuardElems) * sizeof(double);
        WorkerBuffer b(bytes, false);
        double* a = reinterpret_cast<double*>(b.data() + j * kArrayStagger);
        if (j < k.outputs)
          fill_poison(a, cap_ + kGuardElems);
        else
          fill_values(a, cap_ + kGuardElems, 1, w, j);
        arrays_[w][j] = a;
        buf_[size_t(w) * narrays_ + j] = std::move(b);
      }
      record_placement(&placement_[w], team_.cpus()[w], arrays_[w][0], cap_ * sizeof(double), 8);
    } catch (const std::exception& e) {
      errors[w] = e.what();
    }
  });
  for (int w = 0; w < nw; ++w)
    if (!errors[w].empty())
      throw std::runtime_error("worker " + std::to_string(w) + " could not allocate its arrays (" + errors[w] + ")");
}

void MemoryRun::set_kernel(const MemoryKernel& k) {
  if (k.arrays != k_->arrays || k.outputs != k_->outputs)
    throw std::invalid_argument(k.name + " uses other arrays than " + k_->name);
  runnable_or_throw(k);
  if (n_ % k.block_elems || cap_ % k.block_elems)
    throw std::invalid_argument(k.name + ": " + std::to_string(n_) + " elements per worker are not a multiple of " +
                                std::to_string(k.block_elems));
  k_ = &k;
}

void MemoryRun::set_elems(size_t n) {
  if (n == 0 || n > cap_ || n % k_->block_elems)
    throw std::invalid_argument(k_->name + ": elements per worker must be a positive multiple of " +
                                std::to_string(k_->block_elems) + " up to " + std::to_string(cap_) + " (got " +
                                std::to_string(n) + ")");
  n_ = n;
}

TeamTiming MemoryRun::run(uint64_t passes) {
  const StreamFn fn = k_->fn;
  const size_t n = n_;
  const double s = k_->scalar;
  return team_.run([&](int w) {
    double* const* x = arrays_[w].data();
    uint64_t* sum = &sums_[size_t(w) * 8];
    for (uint64_t p = 0; p < passes; ++p) fn(x, n, s, sum);
  });
}

void MemoryRun::prepare_check(uint64_t seed) {
  team_.each([&](int w) {
    for (int j = 0; j < narrays_; ++j) {
      if (j < k_->outputs)
        fill_poison(arrays_[w][j], cap_ + kGuardElems);
      else
        fill_values(arrays_[w][j], cap_ + kGuardElems, seed, w, j);
    }
    sums_[size_t(w) * 8] = kPoisonBits;
  });
}

namespace {

// Compares out[i] bit for bit with want(i) over n elements.
template <class Want>
void compare(const double* out, size_t n, Want want, WorkerCheck* c) {
  for (size_t i = 0; i < n; ++i) {
    const double w = want(i);
    if (std::memcmp(&w, out + i, sizeof w) != 0) {
      if (!c->mismatches) c->first_bad = i;
      ++c->mismatches;
    }
  }
}

}  // namespace

std::vector<WorkerCheck> MemoryRun::verify() {
  std::vector<WorkerCheck> out(team_.size());
  const std::string op = k_->op;
  const double s = k_->scalar;
  const size_t n = n_;
  team_.each([&](int w) {
    WorkerCheck& c = out[w];
    double* const* x = arrays_[w].data();
    c.elements = n;
    if (op == "read") {
      const uint64_t* a = reinterpret_cast<const uint64_t*>(x[0]);
      uint64_t want = 0;
      for (size_t i = 0; i < n; ++i) want += a[i];
      c.want_sum = want;
      c.got_sum = sums_[size_t(w) * 8];
      c.mismatches = c.got_sum == want ? 0 : 1;
      c.first_bad = c.mismatches ? 0 : SIZE_MAX;
      return;
    }
    const double* o = x[0];
    const double* in1 = narrays_ > 1 ? x[1] : nullptr;
    const double* in2 = narrays_ > 2 ? x[2] : nullptr;
    if (op == "write")
      compare(o, n, [&](size_t) { return s; }, &c);
    else if (op == "copy")
      compare(o, n, [&](size_t i) { return in1[i]; }, &c);
    else if (op == "scale")
      compare(o, n, [&](size_t i) { return s * in1[i]; }, &c);
    else if (op == "add")
      compare(o, n, [&](size_t i) { return in1[i] + in2[i]; }, &c);
    else
      compare(o, n, [&](size_t i) { return in1[i] + s * in2[i]; }, &c);
    // prepare_check poisoned the whole capacity and its guard: nothing past the n elements may change
    for (size_t i = n; i < n + kGuardElems; ++i)
      if (!is_poison(o[i])) ++c.guard_damaged;
  });
  return out;
}

double* MemoryRun::array(int worker, int j) const {
  if (worker < 0 || worker >= team_.size() || j < 0 || j >= narrays_) throw std::out_of_range("no such array");
  return arrays_[worker][j];
}

}  // namespace accelkern_cpu
