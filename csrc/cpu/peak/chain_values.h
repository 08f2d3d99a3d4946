// Start values and operands that make each check exact (see peak.h). Plain C++: no ISA needed.
#pragma once
#include <cstdint>
#include <cstring>

namespace accelkern_cpu {

// "alternate" start of element i: 1 + (i mod 64) / 64, exact in fp16 and wider; c = 3.
constexpr double kAlternateC = 3.0;
inline double alternate_start(int i) { return 1.0 + (i % 64) / 64.0; }

// fp16 bits of 1 + k/64 (k < 64), of 3 and of -1.
inline uint16_t half_one_plus_k64(int k) { return uint16_t(0x3C00 | (k << 4)); }
constexpr uint16_t kHalfThree = 0x4200, kHalfMinusOne = 0xBC00;

// "add": the unit s = 2^-20; start of element i is (i mod 64) * s; bf16 bits of 1.0 and of s.
constexpr double kAddUnit = 1.0 / (1 << 20);
constexpr uint16_t kBf16One = 0x3F80, kBf16Unit = 0x3580;
inline float add_start(int i) { return float((i % 64) * kAddUnit); }

// "wrap32": u8 (or s8) a = 3 times s8 b = -2 in every product; start of element i is i.
constexpr int8_t kInt8A = 3, kInt8B = -2;

template <class T>
inline void fill_alternate(void* acc, int elements, void* ops, int op_elements) {
  T* a = static_cast<T*>(acc);
  for (int i = 0; i < elements; ++i) a[i] = T(alternate_start(i));
  T* o = static_cast<T*>(ops);
  for (int i = 0; i < op_elements; ++i) {
    o[i] = T(-1);
    o[op_elements + i] = T(kAlternateC);
  }
}

inline void fill_int8(void* acc, int elements, void* ops, int op_bytes_each) {
  int32_t* a = static_cast<int32_t*>(acc);
  for (int i = 0; i < elements; ++i) a[i] = i;
  auto* o = static_cast<int8_t*>(ops);
  std::memset(o, kInt8A, op_bytes_each);
  std::memset(o + op_bytes_each, static_cast<unsigned char>(kInt8B), op_bytes_each);
}

inline void fill_bf16_dot(void* acc, int elements, void* ops, int op_halves_each) {
  float* a = static_cast<float*>(acc);
  for (int i = 0; i < elements; ++i) a[i] = add_start(i);
  auto* o = static_cast<uint16_t*>(ops);
  for (int i = 0; i < op_halves_each; ++i) {
    o[i] = kBf16One;
    o[op_halves_each + i] = kBf16Unit;
  }
}

}  // namespace accelkern_cpu
