// The stage trace of the runtime's jobs (QATTN_CUDA_TRACE=1, or setTrace(true) from JS): where the host round trip of
// a call goes. Off, it costs one relaxed atomic load per job; a job submitted while it is off carries no trace.
//
// A traced job is stamped with steady_clock at each hand-over of the queue model (runtime_addon.cc):
//   submitted          main thread, the job handed to the queue
//   picked             queue thread, the job taken from the queue
//   enqueued           queue thread, the job's work and its completion event on the stream
//   completion_picked  completion thread, the job taken from the completion queue
//   completed          completion thread, the job's event observed complete (cudaEventSynchronize returned)
//   settling           main thread, the job's promise about to be settled (the thread-safe function called back)
// and timed on the device between two timing events recorded around its work (the `device` stage: what the GPU spent
// on the job in this very run, to set against the wait the host saw). Records become stage durations in microseconds;
// a stage a job never reaches (a fire-and-forget free never reaches the completion thread) is NaN.
#pragma once

#include <napi.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace qattn_runtime {

using Clock = std::chrono::steady_clock;

enum TraceStamp : int { kSubmitted, kPicked, kEnqueued, kCompletionPicked, kCompleted, kSettling, kStampCount };

// Stage names, in the order of Tracer's values; src/trace.ts (CUDA_TRACE_STAGES) lists the same.
//   queue    submitted → picked            the main → queue thread hop (and the jobs ahead in the queue)
//   enqueue  picked → enqueued             host cost of the job's copies, launchers and event record
//   handoff  enqueued → completion_picked  the queue → completion thread hop (and the device work of earlier jobs)
//   wait     completion_picked → completed the device work, its launch latency, and the event's observation
//   device   timing events around the work the GPU time of the job alone
//   settle   completed → settling          staging copies, the thread-safe call and the main thread's wake-up
//   total    submitted → settling
constexpr std::array<const char*, 7> kTraceStages = {"queue",  "enqueue", "handoff", "wait",
                                                     "device", "settle",  "total"};

struct JobTrace {
  explicit JobTrace(std::string name) : label(std::move(name)) {}
  void Stamp(TraceStamp stamp) { at[stamp] = Clock::now(); }

  std::string label;
  std::array<Clock::time_point, kStampCount> at{};  // time_since_epoch() == 0: not reached
  float device_ms = std::numeric_limits<float>::quiet_NaN();
};

// The records of traced jobs, kept until JS takes them. Record() is called from the queue thread (fire-and-forget
// jobs) and the main thread (the others), hence the mutex; both only when tracing.
class Tracer {
 public:
  // Enough for 10k calls of a few jobs each; past it records are counted as dropped, so memory stays bounded.
  static constexpr size_t kMaxRecords = size_t{1} << 18;

  explicit Tracer(bool enabled) : enabled_(enabled) {}

  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  void set_enabled(bool enabled) { enabled_.store(enabled, std::memory_order_relaxed); }

  void Record(const JobTrace& trace) {
    std::array<double, kTraceStages.size()> stages;
    const auto between = [&](TraceStamp from, TraceStamp to) {
      const Clock::time_point never{};
      if (trace.at[from] == never || trace.at[to] == never) return std::numeric_limits<double>::quiet_NaN();
      return std::chrono::duration<double, std::micro>(trace.at[to] - trace.at[from]).count();
    };
    stages[0] = between(kSubmitted, kPicked);
    stages[1] = between(kPicked, kEnqueued);
    stages[2] = between(kEnqueued, kCompletionPicked);
    stages[3] = between(kCompletionPicked, kCompleted);
    stages[4] = std::isnan(trace.device_ms) ? std::numeric_limits<double>::quiet_NaN() : 1e3 * trace.device_ms;
    stages[5] = between(kCompleted, kSettling);
    stages[6] = between(kSubmitted, kSettling);
    std::lock_guard<std::mutex> lock(mutex_);
    if (record_labels_.size() >= kMaxRecords) {
      ++dropped_;
      return;
    }
    auto [it, added] = label_index_.emplace(trace.label, static_cast<uint32_t>(labels_.size()));
    if (added) labels_.push_back(trace.label);
    record_labels_.push_back(it->second);
    values_.insert(values_.end(), stages.begin(), stages.end());
  }

  // Main thread: the records since the last Take, then forgets them:
  // { stages: string[], labels: string[], label: Uint32Array (per record, into labels), values: Float64Array
  //   (records × stages, µs, NaN where a stage was not reached), dropped: number }.
  Napi::Object Take(Napi::Env env) {
    std::vector<std::string> labels;
    std::vector<uint32_t> label_of_record;
    std::vector<double> values;
    double dropped = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      labels.swap(labels_);
      label_of_record.swap(record_labels_);
      values.swap(values_);
      label_index_.clear();
      dropped = static_cast<double>(dropped_);
      dropped_ = 0;
    }
    Napi::Object out = Napi::Object::New(env);
    Napi::Array stage_names = Napi::Array::New(env, kTraceStages.size());
    for (uint32_t i = 0; i < kTraceStages.size(); ++i) stage_names.Set(i, kTraceStages[i]);
    Napi::Array label_names = Napi::Array::New(env, labels.size());
    for (uint32_t i = 0; i < labels.size(); ++i) label_names.Set(i, labels[i]);
    Napi::Uint32Array label = Napi::Uint32Array::New(env, label_of_record.size());
    std::copy(label_of_record.begin(), label_of_record.end(), label.Data());
    Napi::Float64Array stage_values = Napi::Float64Array::New(env, values.size());
    std::copy(values.begin(), values.end(), stage_values.Data());
    out.Set("stages", stage_names);
    out.Set("labels", label_names);
    out.Set("label", label);
    out.Set("values", stage_values);
    out.Set("dropped", dropped);
    return out;
  }

 private:
  std::atomic<bool> enabled_;
  std::mutex mutex_;
  std::vector<std::string> labels_;
  std::map<std::string, uint32_t> label_index_;
  std::vector<uint32_t> record_labels_;
  std::vector<double> values_;
  uint64_t dropped_ = 0;
};

// QATTN_CUDA_TRACE=1 (any value but empty and "0") turns the trace on when the addon loads.
inline bool TraceFromEnvironment() {
  const char* value = std::getenv("QATTN_CUDA_TRACE");
  return value != nullptr && value[0] != '\0' && std::string(value) != "0";
}

}  // namespace qattn_runtime
