#include "common/team.h"

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <ctime>
#include <stdexcept>

#if defined(__linux__)
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace accelkern_cpu {

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

int64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

namespace {

// Core cycles of the calling thread, user space only; -1 when perf events are unavailable (VMs often lack
// a virtual PMU; perf_event_paranoid may forbid it).
int open_cycles_counter(std::string* why) {
#if defined(__linux__)
  perf_event_attr a;
  std::memset(&a, 0, sizeof a);
  a.type = PERF_TYPE_HARDWARE;
  a.size = sizeof a;
  a.config = PERF_COUNT_HW_CPU_CYCLES;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  int fd = static_cast<int>(syscall(__NR_perf_event_open, &a, 0, -1, -1, 0));
  if (fd < 0) *why = std::string("perf_event_open(cycles) failed: ") + std::strerror(errno);
  return fd;
#else
  *why = "perf events need Linux";
  return -1;
#endif
}

uint64_t read_counter(int fd) {
  uint64_t v = 0;
#if defined(__linux__)
  if (fd >= 0 && ::read(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) v = 0;
#endif
  return v;
}

inline int load(const int& x) { return __atomic_load_n(&x, __ATOMIC_ACQUIRE); }
inline void store(int& x, int v) { __atomic_store_n(&x, v, __ATOMIC_RELEASE); }
inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

Team::Team(const std::vector<int>& cpus) : cpus_(cpus) {
  if (cpus_.empty()) throw std::runtime_error("a team needs at least one CPU");
  const int n = size();
  perf_fd_.assign(n, -1);
  pin_errors_.assign(n, "");
  t0_ns_.assign(n, 0);
  t1_ns_.assign(n, 0);
  c0_.assign(n, 0);
  c1_.assign(n, 0);
  cpu0_ns_.assign(n, 0);
  cpu1_ns_.assign(n, 0);
  for (int w = 0; w < n; ++w) threads_.emplace_back(&Team::worker_main, this, w);
  each([this](int w) {
    std::string why;
    perf_fd_[w] = open_cycles_counter(&why);
    if (perf_fd_[w] < 0 && w == 0) perf_note_ = why;
  });
  perf_ok_ = true;
  for (int fd : perf_fd_) perf_ok_ = perf_ok_ && fd >= 0;
  for (int w = 0; w < n; ++w) {
    if (!pin_errors_[w].empty()) {
      std::string msg = pin_errors_[w];
      shutdown();
      throw std::runtime_error(msg);
    }
  }
}

Team::~Team() { shutdown(); }

void Team::shutdown() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (quit_) return;
    quit_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
#if defined(__linux__)
  for (int fd : perf_fd_)
    if (fd >= 0) close(fd);
#endif
}

void Team::worker_main(int w) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus_[w], &set);
  int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (rc != 0)
    pin_errors_[w] = "cannot pin a thread to CPU " + std::to_string(cpus_[w]) + ": " + std::strerror(rc) +
                     " (is it in this process's affinity mask?)";
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int)>* body;
    bool timed;
    {
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return quit_ || generation_ != seen; });
      if (quit_) return;
      seen = generation_;
      body = body_;
      timed = timed_;
    }
    if (timed) {
      if (__atomic_add_fetch(&ready_, 1, __ATOMIC_ACQ_REL) == size())
        store(go_, 1);
      else
        while (!load(go_)) cpu_relax();
      c0_[w] = read_counter(perf_fd_[w]);
      cpu0_ns_[w] = thread_cpu_ns();
      t0_ns_[w] = now_ns();
      (*body)(w);
      t1_ns_[w] = now_ns();
      cpu1_ns_[w] = thread_cpu_ns();
      c1_[w] = read_counter(perf_fd_[w]);
    } else {
      (*body)(w);
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (++done_ == size()) done_cv_.notify_one();
    }
  }
}

void Team::dispatch(const std::function<void(int)>* body, bool timed) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    body_ = body;
    timed_ = timed;
    done_ = 0;
    store(ready_, 0);
    store(go_, 0);
    ++generation_;
  }
  wake_.notify_all();
  std::unique_lock<std::mutex> lk(mu_);
  done_cv_.wait(lk, [&] { return done_ == size(); });
}

void Team::each(const std::function<void(int)>& fn) { dispatch(&fn, false); }

TeamTiming Team::run(const std::function<void(int)>& body) {
  dispatch(&body, true);
  TeamTiming t;
  int64_t lo = t0_ns_[0], hi = t1_ns_[0];
  for (int w = 0; w < size(); ++w) {
    lo = std::min(lo, t0_ns_[w]);
    hi = std::max(hi, t1_ns_[w]);
    t.thread_s.push_back((t1_ns_[w] - t0_ns_[w]) * 1e-9);
    t.thread_cpu_s.push_back((cpu1_ns_[w] - cpu0_ns_[w]) * 1e-9);
    if (perf_ok_) t.cycles.push_back(double(c1_[w] - c0_[w]));
  }
  t.wall_s = (hi - lo) * 1e-9;
  return t;
}

}  // namespace accelkern_cpu
