// A team of worker threads, one pinned to each given CPU, that run a body at once: the workers wait at a
// barrier, are released together, and each times its own part with the monotonic clock (and counts its
// core cycles where Linux's perf events work). Between runs the workers sleep, so an idle team takes no CPU
// from the caller. Per-thread state (buffers first touched by the thread that uses them) is set up with
// each(), which runs on the workers too.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace accelkern_cpu {

struct TeamTiming {
  double wall_s = 0;                 // first worker's start to last worker's end
  std::vector<double> thread_s;      // each worker's own span
  std::vector<double> thread_cpu_s;  // each worker's time on its core over that span (less: it was preempted)
  std::vector<double> cycles;        // each worker's core cycles over its span (empty: no perf events)
};

class Team {
 public:
  // Pins one worker to each CPU in `cpus`; throws std::runtime_error naming a CPU it cannot pin to.
  explicit Team(const std::vector<int>& cpus);
  ~Team();
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  int size() const { return static_cast<int>(cpus_.size()); }
  const std::vector<int>& cpus() const { return cpus_; }
  bool has_cycles() const { return perf_ok_; }
  const std::string& cycles_note() const { return perf_note_; }

  // Runs body(worker) on every worker, released together; returns the timing.
  TeamTiming run(const std::function<void(int)>& body);
  // Runs fn(worker) on every worker (set-up, first touch, read-back); not timed.
  void each(const std::function<void(int)>& fn);

 private:
  void worker_main(int w);
  void dispatch(const std::function<void(int)>* body, bool timed);
  void shutdown();

  std::vector<int> cpus_;
  std::vector<std::thread> threads_;
  std::vector<int> perf_fd_;
  bool perf_ok_ = false;
  std::string perf_note_;
  std::vector<std::string> pin_errors_;

  std::mutex mu_;
  std::condition_variable wake_, done_cv_;
  uint64_t generation_ = 0;
  const std::function<void(int)>* body_ = nullptr;
  bool timed_ = false;
  bool quit_ = false;
  int done_ = 0;
  int ready_ = 0;                    // workers at the barrier (atomic access); the last one releases all
  int go_ = 0;                       // released (atomic access)
  std::vector<int64_t> t0_ns_, t1_ns_;
  std::vector<uint64_t> c0_, c1_;
  std::vector<int64_t> cpu0_ns_, cpu1_ns_;
};

// Nanoseconds on the monotonic clock.
int64_t now_ns();
// Nanoseconds the calling thread has run on a core (CLOCK_THREAD_CPUTIME_ID).
int64_t thread_cpu_ns();

}  // namespace accelkern_cpu
