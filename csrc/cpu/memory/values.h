// The values memory kernels run on: random small integers as doubles (|v| <= 2^20, never zero), from a
// counter-based generator so any worker can fill any range; and the poison an unwritten output keeps.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace accelkern_cpu {

// A quiet NaN with a payload no kernel computes: an output element still holding it was never written.
constexpr uint64_t kPoisonBits = 0x7FF8DEAD0BADBEEFull;

inline uint64_t mix64(uint64_t x) {  // splitmix64's finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Element i of array j of worker w for a seed: an integer in [-2^20, 2^20] \ {0}. Sums, products by 3 and
// triads of such values are exact in a double, so every path's result is bit-identical to the check's.
inline double value_at(uint64_t seed, int w, int j, size_t i) {
  const uint64_t h = mix64(seed * 0x100000001B3ull ^ (uint64_t(w) << 48) ^ (uint64_t(j) << 40) ^ i);
  int64_t v = int64_t(h & ((uint64_t(1) << 21) - 1)) - (int64_t(1) << 20);
  return double(v == 0 ? 1 : v);
}

inline void fill_values(double* a, size_t count, uint64_t seed, int w, int j) {
  for (size_t i = 0; i < count; ++i) a[i] = value_at(seed, w, j, i);
}

inline void fill_poison(double* a, size_t count) {
  double p;
  std::memcpy(&p, &kPoisonBits, sizeof p);
  for (size_t i = 0; i < count; ++i) a[i] = p;
}

inline bool is_poison(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b == kPoisonBits;
}

}  // namespace accelkern_cpu
