// Load-to-use latency: a chain of 64-byte lines in one random cyclic order, walked one dependent load at a
// time, so no two loads overlap and no prefetcher can guess the next line. Each chase continues where the
// last one stopped, so a short chase never re-walks lines it just brought into the caches.
#include <cstring>
#include <stdexcept>

#include "memory/memory.h"
#include "memory/values.h"

namespace accelkern_cpu {

LatencyRun::LatencyRun(int cpu, size_t capacity_bytes) : team_(std::vector<int>{cpu}) {
  if (capacity_bytes < 2 * kLineBytes) throw std::invalid_argument("a pointer chase needs at least 2 lines");
  std::string error;
  team_.each([&](int) {
    try {
      buf_ = WorkerBuffer(capacity_bytes, true);
      std::memset(buf_.data(), 0x5A, capacity_bytes);  // first touch by the walker: its own node's memory
      record_placement(&placement_, team_.cpus()[0], buf_.data(), capacity_bytes, 8);
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw std::runtime_error("the walker could not allocate its buffer (" + error + ")");
}

void LatencyRun::build(size_t bytes, uint64_t seed) {
  const size_t lines = bytes / kLineBytes;
  if (lines < 2 || lines * kLineBytes > buf_.bytes() || lines > UINT32_MAX)
    throw std::invalid_argument("chase size must be 2 lines up to the capacity (" + std::to_string(buf_.bytes()) +
                                " B)");
  team_.each([&](int) {
    // Sattolo's algorithm: swapping each position with a strictly earlier one makes next[] a single cycle
    std::vector<uint32_t> next(lines);
    for (size_t i = 0; i < lines; ++i) next[i] = static_cast<uint32_t>(i);
    uint64_t state = seed;
    for (size_t i = lines - 1; i > 0; --i) {
      state = mix64(state);
      const size_t j = static_cast<size_t>((unsigned __int128)state * i >> 64);  // uniform in [0, i)
      std::swap(next[i], next[j]);
    }
    unsigned char* base = buf_.data();
    for (size_t i = 0; i < lines; ++i)
      *reinterpret_cast<void**>(base + i * kLineBytes) = base + size_t(next[i]) * kLineBytes;
  });
  lines_ = lines;
  cursor_ = buf_.data();
}

TeamTiming LatencyRun::chase(uint64_t steps) {
  if (!lines_) throw std::logic_error("build() the chain before chasing it");
  if (steps % 8) throw std::invalid_argument("chase steps must be a multiple of 8 (the loop's unroll)");
  void* p = cursor_;
  TeamTiming t = team_.run([&](int) {
    void* q = p;
    for (uint64_t i = 0; i < steps; i += 8) {
      q = *static_cast<void**>(q);
      q = *static_cast<void**>(q);
      q = *static_cast<void**>(q);
      q = *static_cast<void**>(q);
      q = *static_cast<void**>(q);
      q = *static_cast<void**>(q);
      q = *static_cast<void**>(q);
      q = *static_cast<void**>(q);
    }
    *static_cast<void* volatile*>(&p) = q;  // the walk's end is used: no load can be dropped
  });
  cursor_ = p;
  return t;
}

uint64_t LatencyRun::cycle_length() {
  if (!lines_) return 0;
  unsigned char* base = buf_.data();
  unsigned char* end = base + lines_ * kLineBytes;
  uint64_t n = 0;
  unsigned char* p = base;
  do {
    unsigned char* q = *reinterpret_cast<unsigned char**>(p);
    // a pointer outside the chain or off a line start: the chain is broken
    if (q < base || q >= end || (q - base) % kLineBytes) return 0;
    p = q;
    ++n;
  } while (p != base && n <= lines_);
  return n;
}

}  // namespace accelkern_cpu
