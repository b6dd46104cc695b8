// @qattn/cuda-runtime native addon: device probe, stream-ordered device memory, and the job queue that owns the stream.
//
// Every operation that touches the device is a job. Two threads carry a job:
//   - the queue thread takes jobs in submission order, enqueues their work on the one stream (copies, memsets,
//     launchers of kernel addons, frees) and records an event after each job, without waiting for the device;
//   - the completion thread takes the same jobs in the same order, waits on each job's event, finishes host-side work
//     (pinned staging → host array copies, timing reads) and hands the job to the main thread, which settles its
//     promise.
// One enqueuing thread means one submission order, which is the stream order the JS API promises; one completion
// thread in the same order means promises settle in submission order, and a settled promise means the job's work has
// finished on the device (an asynchronous kernel fault is reported by the event of the job that launched it).
//
// Allocation is the exception: once the stream exists, `alloc` calls cudaMallocFromPoolAsync on the main thread. A
// stream-ordered allocation is valid for every job enqueued after it, and the pool only hands out memory whose
// cudaFreeAsync is already in the stream, so skipping the queue is safe and saves a round trip per tensor.
//
// QATTN_CUDA_TRACE=1 stamps every job at each of these hand-overs (job_trace.h); JS reads the durations through
// traceTake().
#include <napi.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "job_trace.h"
#include "qattn/launch_abi.h"

namespace {

using qattn_runtime::Clock;
using qattn_runtime::JobTrace;
using qattn_runtime::TraceStamp;
using qattn_runtime::Tracer;

std::string DescribeCudaError(const std::string& call, cudaError_t status) {
  return call + " failed: " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + " = " +
         std::to_string(static_cast<int>(status)) + ")";
}

// Outcome of one job, filled on the worker threads and turned into a JS value on the main thread.
struct JobResult {
  std::string error;
  int cuda_status = 0;
  uint64_t pointer = 0;
  std::vector<double> samples_ms;
  double mem_free = 0;
  double mem_total = 0;
};

// Records a failed CUDA call in `result` (the first failure wins). Returns true when `status` is an error.
bool Fail(JobResult& result, const std::string& call, cudaError_t status) {
  if (status == cudaSuccess) return false;
  if (result.error.empty()) {
    result.error = DescribeCudaError(call, status);
    result.cuda_status = status;
  }
  cudaGetLastError();  // clear a non-sticky error so that the process stays usable (e.g. after out-of-memory)
  return true;
}

// A page-locked host buffer of `bytes` capacity (a power of two), for copies the DMA engine runs asynchronously.
struct StagingBlock {
  void* data = nullptr;
  size_t bytes = 0;
};

// A staging → host copy that the completion thread runs once the job's event has completed.
struct HostCopy {
  void* host;
  const void* staging;
  size_t bytes;
};

struct Job {
  // Queue thread: enqueue the job's work on `stream` without waiting for the device; report failures in `result`.
  std::function<void(Job&, cudaStream_t)> enqueue;
  // Completion thread, after the job's event completed (or failed): host-side work and cleanup. Runs in every case;
  // checks `result.error` itself.
  std::function<void(Job&)> finish;
  // Null only for fire-and-forget jobs (free), which hold no JS reference and never reach the main thread.
  std::unique_ptr<Napi::Promise::Deferred> deferred;
  std::function<Napi::Value(Napi::Env, const JobResult&)> to_value;
  std::vector<Napi::Reference<Napi::Value>> keep_alive;  // typed arrays read or written by the job
  std::vector<StagingBlock> staging;                     // returned to the pool once the event completed
  std::vector<HostCopy> host_copies;                     // downloads through staging
  cudaEvent_t done = nullptr;                            // recorded after the job's work
  JobResult result;
  // Only while tracing: the job's stage stamps, and timing events around its work (the `device` stage).
  std::unique_ptr<JobTrace> trace;
  cudaEvent_t trace_start = nullptr;
  cudaEvent_t trace_end = nullptr;

  void Stamp(TraceStamp stamp) {
    if (trace) trace->Stamp(stamp);
  }
};

class Runtime;
void CompleteJob(Napi::Env env, Napi::Function, Runtime* runtime, Job* raw_job);
using CompletionTsfn = Napi::TypedThreadSafeFunction<Runtime, Job, CompleteJob>;

// When the consumer threads may go to sleep. A sleeping consumer costs a futex wake-up on the next job (several
// microseconds, tens when its core has gone into a deep idle state), and a sequence of awaited calls — each call
// submitted once the previous one has settled — is exactly where the next job comes right after a quiet spell:
//   - while a job with a promise is in flight (submitted, not yet settled on the main thread), the next call is
//     typically submitted a few microseconds after it settles: keep spinning, for up to kBusySpin, so that device
//     work up to that long (a decode step over a long cache, a typed-array call with its copies) does not send the
//     queue thread to sleep while it runs;
//   - once nothing is in flight, spin for kIdleSpin after the later of the last settle and the start of the wait,
//     which covers the JS between an awaited call and the next one; then sleep.
// A spinning thread yields its core at every turn, so runnable threads are not starved. Fire-and-forget jobs (frees)
// hold nothing in flight. With fewer than kBusySpinThreads hardware threads the busy spin is left out: the queue
// thread would compete with the main thread and CUDA's own spin-wait in cudaEventSynchronize for too few cores.
class Activity {
 public:
  Activity() : busy_spin_(std::thread::hardware_concurrency() >= kBusySpinThreads ? kBusySpin : kIdleSpin) {}

  // Main thread.
  void Submitted() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void Settled() {
    last_settled_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    in_flight_.fetch_sub(1, std::memory_order_release);
  }

  // Consumer threads: whether a wait that began at `since` should still spin at `now`.
  bool KeepSpinning(Clock::time_point since, Clock::time_point now) const {
    if (in_flight_.load(std::memory_order_acquire) > 0) return now - since < busy_spin_;
    const Clock::time_point settled{Clock::duration(last_settled_.load(std::memory_order_relaxed))};
    return now - std::max(since, settled) < kIdleSpin;
  }

 private:
  static constexpr std::chrono::microseconds kIdleSpin{100};
  static constexpr std::chrono::microseconds kBusySpin{2000};
  static constexpr unsigned kBusySpinThreads = 4;
  const std::chrono::microseconds busy_spin_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<Clock::rep> last_settled_{0};
};

// A FIFO handed from one thread to another. The consumer spins before it sleeps (see Activity).
class JobQueue {
 public:
  explicit JobQueue(const Activity& activity) : activity_(activity) {}

  // False once stopped: the caller keeps the job (and must not release its JS references off the main thread).
  bool Push(std::unique_ptr<Job>& job) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopped_) return false;
      items_.push_back(std::move(job));
      size_.store(items_.size(), std::memory_order_release);
      wake = sleepers_ > 0;
    }
    if (wake) ready_.notify_one();
    return true;
  }

  // Null once stopped.
  std::unique_ptr<Job> Pop() {
    const Clock::time_point since = Clock::now();
    while (size_.load(std::memory_order_acquire) == 0 && !stopped_flag_.load(std::memory_order_acquire) &&
           activity_.KeepSpinning(since, Clock::now())) {
      std::this_thread::yield();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    while (items_.empty() && !stopped_) {
      ++sleepers_;
      ready_.wait(lock);
      --sleepers_;
    }
    if (stopped_) return nullptr;
    std::unique_ptr<Job> job = std::move(items_.front());
    items_.pop_front();
    size_.store(items_.size(), std::memory_order_release);
    return job;
  }

  // Main thread: wake the consumer and drop what is left (the jobs' JS references are released here, on the main
  // thread, which is the only thread allowed to).
  void Stop() {
    std::deque<std::unique_ptr<Job>> dropped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
      stopped_flag_.store(true, std::memory_order_release);
      dropped.swap(items_);
    }
    ready_.notify_all();
  }

 private:
  const Activity& activity_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::unique_ptr<Job>> items_;
  std::atomic<size_t> size_{0};
  std::atomic<bool> stopped_flag_{false};
  bool stopped_ = false;
  int sleepers_ = 0;
};

// Pinned staging buffers by power-of-two size class. Acquired on the queue thread, released on the completion thread.
class StagingPool {
 public:
  // Copies above this go pageable (cudaMemcpyAsync stages them itself, waiting on the queue thread).
  static constexpr size_t kMaxStaged = size_t{16} << 20;
  // Idle blocks kept for reuse; above this, released blocks are freed.
  static constexpr size_t kMaxIdle = size_t{64} << 20;

  cudaError_t Acquire(size_t bytes, StagingBlock* block) {
    size_t size_class = kMinBlock;
    while (size_class < bytes) size_class <<= 1;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& idle = idle_[size_class];
      if (!idle.empty()) {
        *block = {idle.back(), size_class};
        idle.pop_back();
        idle_bytes_ -= size_class;
        return cudaSuccess;
      }
    }
    void* data = nullptr;
    cudaError_t status = cudaHostAlloc(&data, size_class, cudaHostAllocDefault);
    if (status == cudaSuccess) *block = {data, size_class};
    return status;
  }

  void Release(const StagingBlock& block) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (idle_bytes_ + block.bytes <= kMaxIdle) {
        idle_[block.bytes].push_back(block.data);
        idle_bytes_ += block.bytes;
        return;
      }
    }
    cudaFreeHost(block.data);
  }

  // Frees every idle block (blocks of jobs in flight return later and are kept).
  void Trim() {
    std::map<size_t, std::vector<void*>> idle;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle.swap(idle_);
      idle_bytes_ = 0;
    }
    for (auto& [size_class, blocks] : idle) {
      for (void* data : blocks) cudaFreeHost(data);
    }
  }

 private:
  static constexpr size_t kMinBlock = 4096;
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> idle_;
  size_t idle_bytes_ = 0;
};

// Events of one kind (`flags`), reused: created on demand by the queue thread, returned by the completion thread.
class EventPool {
 public:
  explicit EventPool(unsigned flags) : flags_(flags) {}

  cudaError_t Acquire(cudaEvent_t* event) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        *event = idle_.back();
        idle_.pop_back();
        return cudaSuccess;
      }
    }
    return cudaEventCreateWithFlags(event, flags_);
  }

  void Release(cudaEvent_t event) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(event);
  }

  void Trim() {
    std::vector<cudaEvent_t> idle;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle.swap(idle_);
    }
    for (cudaEvent_t event : idle) cudaEventDestroy(event);
  }

 private:
  const unsigned flags_;
  std::mutex mutex_;
  std::vector<cudaEvent_t> idle_;
};

// Live allocations, keyed by base pointer, so that every pointer coming from JS is checked before use.
class AllocationTable {
 public:
  void Insert(uint64_t base, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    table_[base] = bytes;
  }
  bool Erase(uint64_t base) {
    std::lock_guard<std::mutex> lock(mutex_);
    return table_.erase(base) == 1;
  }
  size_t Count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return table_.size();
  }
  // True when [pointer, pointer + bytes) lies inside one live allocation.
  bool Contains(uint64_t pointer, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = table_.upper_bound(pointer);
    if (it == table_.begin()) return false;
    --it;
    return pointer >= it->first && pointer + bytes <= it->first + it->second;
  }

 private:
  std::mutex mutex_;
  std::map<uint64_t, size_t> table_;
};

class Runtime {
 public:
  explicit Runtime(Napi::Env env) : env_(env), tracer_(qattn_runtime::TraceFromEnvironment()) {}

  ~Runtime() { Stop(); }

  // Main thread. Jobs with a promise keep the event loop alive until they settle.
  void Submit(std::unique_ptr<Job> job) {
    EnsureStarted();
    job->Stamp(qattn_runtime::kSubmitted);
    if (job->deferred) {
      if (pending_++ == 0) tsfn_.Ref(env_);
      activity_.Submitted();
    }
    queue_.Push(job);
  }

  AllocationTable& allocations() { return allocations_; }
  StagingPool& staging() { return staging_; }
  EventPool& events() { return events_; }
  EventPool& timing_events() { return timing_events_; }
  Tracer& tracer() { return tracer_; }

  // True once the queue thread has created the stream; `stream()` and `pool()` are then fixed.
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  cudaStream_t stream() const { return stream_; }
  // Null when the device has no stream-ordered allocator: then alloc is a queue job (cudaMalloc) and free is cudaFree.
  cudaMemPool_t pool() const { return pool_; }

  // Called at environment teardown: finish the jobs in the threads' hands, drop the rest, join the threads.
  void Stop() {
    if (!started_) return;
    queue_.Stop();
    if (queue_thread_.joinable()) queue_thread_.join();
    completions_.Stop();
    if (completion_thread_.joinable()) completion_thread_.join();
    tsfn_.Release();
    started_ = false;
  }

  // Main thread, after a job settled: let the process exit once nothing is pending.
  void OnJobSettled(Napi::Env env) {
    activity_.Settled();
    if (--pending_ == 0) tsfn_.Unref(env);
  }

 private:
  void EnsureStarted() {
    if (started_) return;
    tsfn_ = CompletionTsfn::New(env_, "qattn-cuda-queue", 0, 1, this);
    tsfn_.Unref(env_);
    started_ = true;
    queue_thread_ = std::thread([this] { QueueLoop(); });
    completion_thread_ = std::thread([this] { CompletionLoop(); });
  }

  void QueueLoop() {
    while (std::unique_ptr<Job> job = queue_.Pop()) {
      job->Stamp(qattn_runtime::kPicked);
      if (InitDevice(job->result)) {
        const bool timed = job->trace && job->deferred && RecordTraceEvent(&job->trace_start);
        job->enqueue(*job, stream_);
        if (timed && !RecordTraceEvent(&job->trace_end)) ReleaseTraceEvents(*job);
        if (job->deferred) {
          // The event follows everything the job enqueued, also when a step failed: staging buffers of the steps that
          // did run are released only after it.
          cudaError_t status = events_.Acquire(&job->done);
          if (status == cudaSuccess) status = cudaEventRecord(job->done, stream_);
          if (status != cudaSuccess) {
            if (job->done != nullptr) events_.Release(job->done);
            job->done = nullptr;
            Fail(job->result, "cudaEventRecord", status);
          }
        }
      }
      job->Stamp(qattn_runtime::kEnqueued);
      if (!job->deferred) {  // fire-and-forget: nothing to settle, no JS reference to release
        if (job->trace) tracer_.Record(*job->trace);
        continue;
      }
      // If the completion queue is already stopped the environment is closing: the job is leaked on purpose, since
      // its JS references may only be released on the main thread.
      if (!completions_.Push(job)) job.release();
    }
  }

  void CompletionLoop() {
    while (std::unique_ptr<Job> job = completions_.Pop()) {
      job->Stamp(qattn_runtime::kCompletionPicked);
      if (job->done != nullptr) {
        Fail(job->result, "device work of the job (cudaEventSynchronize)", cudaEventSynchronize(job->done));
        job->Stamp(qattn_runtime::kCompleted);
        events_.Release(job->done);
        job->done = nullptr;
        if (job->trace_end != nullptr && job->result.error.empty()) {
          // Both events precede `done` on the stream, so both have completed.
          float ms = 0;
          if (cudaEventElapsedTime(&ms, job->trace_start, job->trace_end) == cudaSuccess) job->trace->device_ms = ms;
          cudaGetLastError();
        }
      } else if (!job->staging.empty() && stream_ != nullptr) {
        // No event could be recorded: copies through staging may still be in flight.
        cudaStreamSynchronize(stream_);
      }
      if (job->result.error.empty()) {
        for (const HostCopy& copy : job->host_copies) std::memcpy(copy.host, copy.staging, copy.bytes);
      }
      ReleaseTraceEvents(*job);
      for (const StagingBlock& block : job->staging) staging_.Release(block);
      job->staging.clear();
      if (job->finish) job->finish(*job);
      // Ownership passes to CompleteJob on the main thread. If the environment is already closing the call fails
      // and the job is leaked on purpose: its JS references may only be released on the main thread.
      tsfn_.NonBlockingCall(job.release());
    }
  }

  // Queue thread, tracing only: a timing event recorded on the stream now (false when that failed: no device stage).
  bool RecordTraceEvent(cudaEvent_t* event) {
    if (timing_events_.Acquire(event) != cudaSuccess) {
      cudaGetLastError();
      *event = nullptr;
      return false;
    }
    if (cudaEventRecord(*event, stream_) == cudaSuccess) return true;
    cudaGetLastError();
    timing_events_.Release(*event);
    *event = nullptr;
    return false;
  }

  void ReleaseTraceEvents(Job& job) {
    for (cudaEvent_t* event : {&job.trace_start, &job.trace_end}) {
      if (*event != nullptr) timing_events_.Release(*event);
      *event = nullptr;
    }
  }

  // The stream and the memory pool are created lazily on the queue thread, so that loading the addon never touches
  // the driver and the main thread never waits for context creation.
  bool InitDevice(JobResult& result) {
    if (stream_ != nullptr) return true;
    cudaError_t status = cudaSetDevice(0);
    if (status == cudaSuccess) status = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
    if (status != cudaSuccess) {
      Fail(result, "cudaStreamCreateWithFlags", status);
      stream_ = nullptr;
      return false;
    }
    pool_ = CreatePool();
    ready_.store(true, std::memory_order_release);
    return true;
  }

  // A pool of our own, so that its release threshold does not change the device's default pool for other libraries
  // in the process. Freed memory stays in the pool (like a caching allocator) until trimCaches().
  static cudaMemPool_t CreatePool() {
    int supported = 0;
    if (cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, 0) != cudaSuccess || supported == 0) {
      cudaGetLastError();
      return nullptr;
    }
    cudaMemPoolProps props = {};
    props.allocType = cudaMemAllocationTypePinned;
    props.handleTypes = cudaMemHandleTypeNone;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = 0;
    cudaMemPool_t pool = nullptr;
    if (cudaMemPoolCreate(&pool, &props) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    uint64_t threshold = std::numeric_limits<uint64_t>::max();
    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
    cudaGetLastError();
    return pool;
  }

  Napi::Env env_;
  CompletionTsfn tsfn_;
  std::thread queue_thread_;
  std::thread completion_thread_;
  Activity activity_;
  JobQueue queue_{activity_};
  JobQueue completions_{activity_};
  bool started_ = false;
  size_t pending_ = 0;  // main thread only
  cudaStream_t stream_ = nullptr;
  cudaMemPool_t pool_ = nullptr;
  std::atomic<bool> ready_{false};
  AllocationTable allocations_;
  StagingPool staging_;
  EventPool events_{cudaEventDisableTiming};
  EventPool timing_events_{cudaEventDefault};
  Tracer tracer_;
};

// Main thread: settle the promise of a finished job. `env` is null when the environment is being torn down.
void CompleteJob(Napi::Env env, Napi::Function, Runtime* runtime, Job* raw_job) {
  std::unique_ptr<Job> job(raw_job);
  if (env == nullptr) {
    job.release();
    return;
  }
  Napi::HandleScope scope(env);
  if (job->trace) {
    job->Stamp(qattn_runtime::kSettling);
    runtime->tracer().Record(*job->trace);
  }
  if (job->result.error.empty()) {
    job->deferred->Resolve(job->to_value ? job->to_value(env, job->result) : env.Undefined());
  } else {
    Napi::Error error = Napi::Error::New(env, job->result.error);
    error.Set("cudaStatus", Napi::Number::New(env, job->result.cuda_status));
    job->deferred->Reject(error.Value());
  }
  runtime->OnJobSettled(env);
}

Runtime* GetRuntime(const Napi::CallbackInfo& info) { return info.Env().GetInstanceData<Runtime>(); }

uint64_t PointerArg(const Napi::Value& value, const std::string& name) {
  if (!value.IsBigInt()) throw Napi::TypeError::New(value.Env(), name + " must be a bigint device pointer");
  bool lossless = false;
  uint64_t pointer = value.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(value.Env(), name + " does not fit in 64 bits");
  return pointer;
}

double NumberArg(const Napi::Value& value, const std::string& name) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), name + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0) || number != static_cast<double>(static_cast<uint64_t>(number))) {
    throw Napi::RangeError::New(value.Env(), name + " must be a non-negative integer");
  }
  return number;
}

Napi::TypedArray TypedArrayArg(const Napi::Value& value, const std::string& name) {
  if (!value.IsTypedArray()) throw Napi::TypeError::New(value.Env(), name + " must be a typed array");
  return value.As<Napi::TypedArray>();
}

Napi::Array ArrayArg(const Napi::Value& value, const std::string& name) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), name + " must be an array");
  return value.As<Napi::Array>();
}

Napi::Object ObjectArg(const Napi::Value& value, const std::string& name) {
  if (!value.IsObject()) throw Napi::TypeError::New(value.Env(), name + " must be an object");
  return value.As<Napi::Object>();
}

// Host view of a typed array: address and byte length, valid while a reference to it is held.
struct HostView {
  void* data;
  size_t bytes;
};

HostView ViewOf(const Napi::TypedArray& array) {
  Napi::ArrayBuffer buffer = array.ArrayBuffer();
  uint8_t* base = static_cast<uint8_t*>(buffer.Data());
  return {base + array.ByteOffset(), array.ByteLength()};
}

// Main thread, only while tracing: gives the job its trace, named by the call's string argument `label_arg` when JS
// passes one (launch, submit and time take the caller's `what`), else by `fallback`.
void StartTrace(const Napi::CallbackInfo& info, Job& job, const char* fallback, int label_arg = -1) {
  if (!GetRuntime(info)->tracer().enabled()) return;
  const bool named = label_arg >= 0 && info[label_arg].IsString();
  job.trace =
      std::make_unique<JobTrace>(named ? info[label_arg].As<Napi::String>().Utf8Value() : std::string(fallback));
}

// Submits a job whose promise the call returns; `fallback` and `label_arg` name it in the trace (StartTrace).
Napi::Value SubmitWithPromise(const Napi::CallbackInfo& info, std::unique_ptr<Job> job, const char* fallback,
                              int label_arg = -1) {
  StartTrace(info, *job, fallback, label_arg);
  job->deferred = std::make_unique<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(info.Env()));
  Napi::Promise promise = job->deferred->Promise();
  GetRuntime(info)->Submit(std::move(job));
  return promise;
}

void CheckRange(const Napi::Env& env, Runtime* runtime, uint64_t pointer, size_t bytes, const std::string& call) {
  if (!runtime->allocations().Contains(pointer, bytes)) {
    throw Napi::RangeError::New(env, call + ": [pointer, pointer + " + std::to_string(bytes) +
                                         ") is not inside a live allocation of this runtime");
  }
}

// A host ↔ device copy of a job, checked on the main thread and enqueued on the queue thread.
struct Transfer {
  uint64_t pointer;
  HostView host;
};

Transfer TransferArg(const Napi::Env& env, Runtime* runtime, Job& job, const Napi::Value& pointer,
                     const Napi::Value& host, const std::string& call) {
  Napi::TypedArray array = TypedArrayArg(host, call + " host");
  Transfer transfer{PointerArg(pointer, call + " pointer"), ViewOf(array)};
  CheckRange(env, runtime, transfer.pointer, transfer.host.bytes, call);
  job.keep_alive.push_back(Napi::Persistent(static_cast<Napi::Value>(array)));
  return transfer;
}

// "upload 2 of 3", naming a step of a submit() job in its error.
std::string StepLabel(const char* kind, size_t index, size_t count) {
  return std::string(kind) + " " + std::to_string(index + 1) + " of " + std::to_string(count);
}

// The step of a submit() job a queue-thread call belongs to, or none (a job of one step). Its label is formatted only
// when a call fails, so that a successful job builds no strings on the queue thread.
struct Step {
  const char* kind = nullptr;
  size_t index = 0;
  size_t count = 0;

  // `call` prefixed with the step that made it ("upload 2 of 3: …"), when there is a step.
  std::string In(const std::string& call) const {
    return kind == nullptr ? call : StepLabel(kind, index, count) + ": " + call;
  }
};

// Queue thread. Small copies go through pinned staging so that the DMA runs asynchronously and the queue thread
// does not wait; larger ones use the pageable host array directly (the driver stages those itself and may wait on
// the stream first: correct, only slower).
bool EnqueueUpload(Runtime& runtime, Job& job, const Transfer& transfer, cudaStream_t stream, const Step& step) {
  if (transfer.host.bytes == 0) return true;
  void* device = reinterpret_cast<void*>(transfer.pointer);
  const void* source = transfer.host.data;
  if (transfer.host.bytes <= StagingPool::kMaxStaged) {
    StagingBlock block;
    cudaError_t status = runtime.staging().Acquire(transfer.host.bytes, &block);
    if (status != cudaSuccess) return !Fail(job.result, step.In("cudaHostAlloc (staging)"), status);
    job.staging.push_back(block);
    std::memcpy(block.data, transfer.host.data, transfer.host.bytes);
    source = block.data;
  }
  const cudaError_t status = cudaMemcpyAsync(device, source, transfer.host.bytes, cudaMemcpyHostToDevice, stream);
  return status == cudaSuccess || !Fail(job.result, step.In("cudaMemcpyAsync(host to device)"), status);
}

bool EnqueueDownload(Runtime& runtime, Job& job, const Transfer& transfer, cudaStream_t stream, const Step& step) {
  if (transfer.host.bytes == 0) return true;
  const void* device = reinterpret_cast<const void*>(transfer.pointer);
  void* target = transfer.host.data;
  if (transfer.host.bytes <= StagingPool::kMaxStaged) {
    StagingBlock block;
    cudaError_t status = runtime.staging().Acquire(transfer.host.bytes, &block);
    if (status != cudaSuccess) return !Fail(job.result, step.In("cudaHostAlloc (staging)"), status);
    job.staging.push_back(block);
    job.host_copies.push_back({transfer.host.data, block.data, transfer.host.bytes});
    target = block.data;
  }
  const cudaError_t status = cudaMemcpyAsync(target, device, transfer.host.bytes, cudaMemcpyDeviceToHost, stream);
  return status == cudaSuccess || !Fail(job.result, step.In("cudaMemcpyAsync(device to host)"), status);
}

qattn_launch_fn LauncherArg(const Napi::Value& value, const std::string& name) {
  uint64_t address = PointerArg(value, name);
  if (address == 0) throw Napi::TypeError::New(value.Env(), name + " is a null function pointer");
  return reinterpret_cast<qattn_launch_fn>(address);
}

std::vector<uint8_t> ArgsBytes(const Napi::Value& value, const std::string& name) {
  HostView view = ViewOf(TypedArrayArg(value, name));
  const uint8_t* bytes = static_cast<const uint8_t*>(view.data);
  return std::vector<uint8_t>(bytes, bytes + view.bytes);
}

// Queue thread: runs one launcher on the stream. A failed launch leaves its error as the thread's last CUDA error,
// which would otherwise be reported by the next launcher that checks cudaGetLastError(): clear it.
bool RunLauncher(JobResult& result, qattn_launch_fn launcher, const std::vector<uint8_t>& args, cudaStream_t stream,
                 const Step& step) {
  const char* error = launcher(args.data(), args.size(), stream);
  if (error == nullptr) return true;
  if (result.error.empty()) result.error = step.In(error);
  cudaGetLastError();
  return false;
}


// probe(): { deviceCount, error?, cudaStatus?, runtimeVersion, driverVersion, name?, major?, minor?, ... }.
// Synchronous and cheap; never throws for a missing driver or device (that is an answer, not a failure).
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  int runtime_version = 0;
  int driver_version = 0;
  cudaRuntimeGetVersion(&runtime_version);
  cudaDriverGetVersion(&driver_version);
  out.Set("runtimeVersion", runtime_version);
  out.Set("driverVersion", driver_version);
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    out.Set("deviceCount", 0);
    out.Set("cudaStatus", static_cast<int>(status));
    out.Set("error", DescribeCudaError("cudaGetDeviceCount", status));
    return out;
  }
  out.Set("deviceCount", count);
  if (count == 0) return out;
  cudaDeviceProp prop;
  status = cudaGetDeviceProperties(&prop, 0);
  if (status != cudaSuccess) {
    cudaGetLastError();
    out.Set("cudaStatus", static_cast<int>(status));
    out.Set("error", DescribeCudaError("cudaGetDeviceProperties", status));
    return out;
  }
  out.Set("name", prop.name);
  out.Set("major", prop.major);
  out.Set("minor", prop.minor);
  out.Set("multiProcessorCount", prop.multiProcessorCount);
  out.Set("totalGlobalMem", static_cast<double>(prop.totalGlobalMem));
  out.Set("sharedMemPerBlockOptin", static_cast<double>(prop.sharedMemPerBlockOptin));
  out.Set("l2CacheSize", prop.l2CacheSize);
  return out;
}

// alloc(bytes): Promise<bigint>. Settled at once on the main thread once the stream exists (see the file header);
// before that, and without a memory pool, a queue job.
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // cudaMalloc of 0 bytes returns a null pointer; one byte keeps every tensor a distinct live allocation.
  size_t bytes = static_cast<size_t>(NumberArg(info[0], "bytes"));
  size_t allocated = bytes == 0 ? 1 : bytes;
  Runtime* runtime = GetRuntime(info);
  if (runtime->ready() && runtime->pool() != nullptr) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    void* pointer = nullptr;
    JobResult result;
    if (Fail(result, "cudaMallocFromPoolAsync",
             cudaMallocFromPoolAsync(&pointer, allocated, runtime->pool(), runtime->stream()))) {
      Napi::Error error = Napi::Error::New(env, result.error);
      error.Set("cudaStatus", Napi::Number::New(env, result.cuda_status));
      deferred.Reject(error.Value());
    } else {
      uint64_t address = reinterpret_cast<uint64_t>(pointer);
      runtime->allocations().Insert(address, bytes);
      deferred.Resolve(Napi::BigInt::New(env, address));
    }
    return deferred.Promise();
  }
  auto job = std::make_unique<Job>();
  job->enqueue = [runtime, bytes, allocated](Job& self, cudaStream_t stream) {
    void* pointer = nullptr;
    cudaError_t status = runtime->pool() != nullptr
                             ? cudaMallocFromPoolAsync(&pointer, allocated, runtime->pool(), stream)
                             : cudaMalloc(&pointer, allocated);
    if (Fail(self.result, runtime->pool() != nullptr ? "cudaMallocFromPoolAsync" : "cudaMalloc", status)) return;
    self.result.pointer = reinterpret_cast<uint64_t>(pointer);
    runtime->allocations().Insert(self.result.pointer, bytes);
  };
  job->to_value = [](Napi::Env settle_env, const JobResult& result) -> Napi::Value {
    return Napi::BigInt::New(settle_env, result.pointer);
  };
  return SubmitWithPromise(info, std::move(job), "alloc");
}

// free(pointer): boolean. The allocation leaves the live table at once; the free runs in stream order, after every
// job submitted before it (cudaFreeAsync; without a memory pool, cudaFree after a stream synchronization).
Napi::Value Free(const Napi::CallbackInfo& info) {
  uint64_t pointer = PointerArg(info[0], "pointer");
  Runtime* runtime = GetRuntime(info);
  if (!runtime->allocations().Erase(pointer)) return Napi::Boolean::New(info.Env(), false);
  auto job = std::make_unique<Job>();
  job->enqueue = [runtime, pointer](Job& self, cudaStream_t stream) {
    void* device = reinterpret_cast<void*>(pointer);
    if (runtime->pool() != nullptr) {
      Fail(self.result, "cudaFreeAsync", cudaFreeAsync(device, stream));
    } else if (!Fail(self.result, "cudaStreamSynchronize", cudaStreamSynchronize(stream))) {
      // Without a pool the free must wait for the jobs before it explicitly (rare: devices without memory pools).
      Fail(self.result, "cudaFree", cudaFree(device));
    }
  };
  StartTrace(info, *job, "free");
  runtime->Submit(std::move(job));
  return Napi::Boolean::New(info.Env(), true);
}

// upload(pointer, typedArray): Promise<void>; download(pointer, typedArray): Promise<void>
Napi::Value Copy(const Napi::CallbackInfo& info, bool to_device) {
  Runtime* runtime = GetRuntime(info);
  auto job = std::make_unique<Job>();
  const char* call = to_device ? "upload" : "download";
  Transfer transfer = TransferArg(info.Env(), runtime, *job, info[0], info[1], call);
  job->enqueue = [runtime, transfer, to_device](Job& self, cudaStream_t stream) {
    if (to_device) {
      EnqueueUpload(*runtime, self, transfer, stream, Step{});
    } else {
      EnqueueDownload(*runtime, self, transfer, stream, Step{});
    }
  };
  return SubmitWithPromise(info, std::move(job), call);
}

Napi::Value Upload(const Napi::CallbackInfo& info) { return Copy(info, true); }
Napi::Value Download(const Napi::CallbackInfo& info) { return Copy(info, false); }

// memset(pointer, byteValue, bytes): Promise<void>
Napi::Value Memset(const Napi::CallbackInfo& info) {
  uint64_t pointer = PointerArg(info[0], "pointer");
  int value = static_cast<int>(NumberArg(info[1], "value"));
  size_t bytes = static_cast<size_t>(NumberArg(info[2], "bytes"));
  Runtime* runtime = GetRuntime(info);
  CheckRange(info.Env(), runtime, pointer, bytes, "memset");
  auto job = std::make_unique<Job>();
  job->enqueue = [pointer, value, bytes](Job& self, cudaStream_t stream) {
    Fail(self.result, "cudaMemsetAsync", cudaMemsetAsync(reinterpret_cast<void*>(pointer), value, bytes, stream));
  };
  return SubmitWithPromise(info, std::move(job), "memset");
}

// launch(launcher, args, label?): Promise<void>. Resolves once the launched work has finished on the device. `label`
// names the job in the trace.
Napi::Value Launch(const Napi::CallbackInfo& info) {
  qattn_launch_fn launcher = LauncherArg(info[0], "launcher");
  std::vector<uint8_t> args = ArgsBytes(info[1], "args");
  auto job = std::make_unique<Job>();
  job->enqueue = [launcher, args = std::move(args)](Job& self, cudaStream_t stream) {
    RunLauncher(self.result, launcher, args, stream, Step{});
  };
  return SubmitWithPromise(info, std::move(job), "launch", 2);
}

// submit({ uploads: [{pointer, host}], launches: [{launcher, args}], downloads: [{pointer, host}] }, label?):
// Promise<void>.
// One job: every upload, then every launch, then every download; the first failing step ends the job and names
// itself ("launch 2 of 3: …").
Napi::Value SubmitSteps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Runtime* runtime = GetRuntime(info);
  Napi::Object spec = ObjectArg(info[0], "submit job");
  Napi::Array upload_list = ArrayArg(spec.Get("uploads"), "uploads");
  Napi::Array launch_list = ArrayArg(spec.Get("launches"), "launches");
  Napi::Array download_list = ArrayArg(spec.Get("downloads"), "downloads");
  auto job = std::make_unique<Job>();

  std::vector<Transfer> uploads;
  std::vector<Transfer> downloads;
  std::vector<std::pair<qattn_launch_fn, std::vector<uint8_t>>> launches;
  for (uint32_t i = 0; i < upload_list.Length(); ++i) {
    std::string label = StepLabel("upload", i, upload_list.Length());
    Napi::Object step = ObjectArg(upload_list.Get(i), label);
    uploads.push_back(TransferArg(env, runtime, *job, step.Get("pointer"), step.Get("host"), label));
  }
  for (uint32_t i = 0; i < launch_list.Length(); ++i) {
    std::string label = StepLabel("launch", i, launch_list.Length());
    Napi::Object step = ObjectArg(launch_list.Get(i), label);
    launches.emplace_back(LauncherArg(step.Get("launcher"), label + " launcher"),
                          ArgsBytes(step.Get("args"), label + " args"));
  }
  for (uint32_t i = 0; i < download_list.Length(); ++i) {
    std::string label = StepLabel("download", i, download_list.Length());
    Napi::Object step = ObjectArg(download_list.Get(i), label);
    downloads.push_back(TransferArg(env, runtime, *job, step.Get("pointer"), step.Get("host"), label));
  }

  job->enqueue = [runtime, uploads = std::move(uploads), launches = std::move(launches),
                  downloads = std::move(downloads)](Job& self, cudaStream_t stream) {
    for (size_t i = 0; i < uploads.size(); ++i) {
      if (!EnqueueUpload(*runtime, self, uploads[i], stream, Step{"upload", i, uploads.size()})) return;
    }
    for (size_t i = 0; i < launches.size(); ++i) {
      const auto& [launcher, args] = launches[i];
      if (!RunLauncher(self.result, launcher, args, stream, Step{"launch", i, launches.size()})) return;
    }
    for (size_t i = 0; i < downloads.size(); ++i) {
      if (!EnqueueDownload(*runtime, self, downloads[i], stream, Step{"download", i, downloads.size()})) return;
    }
  };
  return SubmitWithPromise(info, std::move(job), "submit", 1);
}

// time(launcher, args, warmup, repeats, label?): Promise<number[]> — milliseconds of each repeat, timed with CUDA
// events.
Napi::Value Time(const Napi::CallbackInfo& info) {
  qattn_launch_fn launcher = LauncherArg(info[0], "launcher");
  std::vector<uint8_t> args = ArgsBytes(info[1], "args");
  int warmup = static_cast<int>(NumberArg(info[2], "warmup"));
  int repeats = static_cast<int>(NumberArg(info[3], "repeats"));
  if (repeats < 1) throw Napi::RangeError::New(info.Env(), "repeats must be at least 1");
  auto job = std::make_unique<Job>();
  // Two timing events per repeat, created on the queue thread and destroyed on the completion thread.
  auto events = std::make_shared<std::vector<cudaEvent_t>>(2 * static_cast<size_t>(repeats), nullptr);
  job->enqueue = [launcher, args = std::move(args), warmup, repeats, events](Job& self, cudaStream_t stream) {
    for (int i = 0; i < warmup; ++i) {
      if (!RunLauncher(self.result, launcher, args, stream, Step{})) return;
    }
    for (auto& event : *events) {
      if (Fail(self.result, "cudaEventCreate", cudaEventCreate(&event))) return;
    }
    for (int i = 0; i < repeats; ++i) {
      if (Fail(self.result, "cudaEventRecord", cudaEventRecord((*events)[2 * i], stream))) return;
      if (!RunLauncher(self.result, launcher, args, stream, Step{})) return;
      if (Fail(self.result, "cudaEventRecord", cudaEventRecord((*events)[2 * i + 1], stream))) return;
    }
  };
  job->finish = [repeats, events](Job& self) {
    for (int i = 0; i < repeats && self.result.error.empty(); ++i) {
      float ms = 0;
      cudaError_t status = cudaEventElapsedTime(&ms, (*events)[2 * i], (*events)[2 * i + 1]);
      if (Fail(self.result, "cudaEventElapsedTime", status)) break;
      self.result.samples_ms.push_back(ms);
    }
    for (cudaEvent_t event : *events) {
      if (event != nullptr) cudaEventDestroy(event);
    }
  };
  job->to_value = [](Napi::Env env, const JobResult& result) -> Napi::Value {
    Napi::Array samples = Napi::Array::New(env, result.samples_ms.size());
    for (size_t i = 0; i < result.samples_ms.size(); ++i) samples.Set(static_cast<uint32_t>(i), result.samples_ms[i]);
    return samples;
  };
  return SubmitWithPromise(info, std::move(job), "time", 4);
}

// synchronize(): Promise<void> — resolves once everything submitted before it has finished. The job enqueues
// nothing: its event, recorded after every earlier job, is the wait.
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  auto job = std::make_unique<Job>();
  job->enqueue = [](Job&, cudaStream_t) {};
  return SubmitWithPromise(info, std::move(job), "synchronize");
}

// trimCaches(): Promise<void> — once everything submitted before has finished (so that its frees have run), returns
// the pool's unused device memory, idle pinned staging buffers and idle events to the driver.
Napi::Value TrimCaches(const Napi::CallbackInfo& info) {
  Runtime* runtime = GetRuntime(info);
  auto job = std::make_unique<Job>();
  job->enqueue = [](Job&, cudaStream_t) {};
  job->finish = [runtime](Job& self) {
    if (!self.result.error.empty()) return;
    // The pool releases memory freed in stream order only once it has seen the stream pass the free.
    if (Fail(self.result, "cudaStreamSynchronize", cudaStreamSynchronize(runtime->stream()))) return;
    if (runtime->pool() != nullptr) Fail(self.result, "cudaMemPoolTrimTo", cudaMemPoolTrimTo(runtime->pool(), 0));
    runtime->staging().Trim();
    runtime->events().Trim();
    runtime->timing_events().Trim();
  };
  return SubmitWithPromise(info, std::move(job), "trimCaches");
}

// memInfo(): Promise<{ free, total }> in bytes.
Napi::Value MemInfo(const Napi::CallbackInfo& info) {
  auto job = std::make_unique<Job>();
  job->enqueue = [](Job& self, cudaStream_t) {
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    if (Fail(self.result, "cudaMemGetInfo", cudaMemGetInfo(&free_bytes, &total_bytes))) return;
    self.result.mem_free = static_cast<double>(free_bytes);
    self.result.mem_total = static_cast<double>(total_bytes);
  };
  job->to_value = [](Napi::Env env, const JobResult& result) -> Napi::Value {
    Napi::Object out = Napi::Object::New(env);
    out.Set("free", result.mem_free);
    out.Set("total", result.mem_total);
    return out;
  };
  return SubmitWithPromise(info, std::move(job), "memInfo");
}

Napi::Value LiveBuffers(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(GetRuntime(info)->allocations().Count()));
}

// tracing(): boolean — whether jobs submitted now are traced (QATTN_CUDA_TRACE at load, then setTrace).
Napi::Value Tracing(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), GetRuntime(info)->tracer().enabled());
}

// setTrace(enabled): traces the jobs submitted from now on, or stops; records already taken stay until traceTake().
Napi::Value SetTrace(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) throw Napi::TypeError::New(info.Env(), "setTrace: enabled must be a boolean");
  GetRuntime(info)->tracer().set_enabled(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

// traceTake(): the stage durations of the traced jobs settled since the last call (job_trace.h, Tracer::Take).
Napi::Value TraceTake(const Napi::CallbackInfo& info) { return GetRuntime(info)->tracer().Take(info.Env()); }

// Arguments of the built-in launchers; TypeScript packs it (src/runtime.ts builtinArgs).
struct QattnBuiltinArgs {
  uint64_t dst;
  uint64_t src;
  uint64_t bytes;
  int32_t value;
  int32_t padding;
};
static_assert(sizeof(QattnBuiltinArgs) == 32, "QattnBuiltinArgs is packed by TypeScript as 32 bytes");

// The launch ABI's message buffer: valid until the next launch on the same thread (the queue thread).
const char* LaunchFailure(const char* call, cudaError_t status) {
  thread_local std::string message;
  message = DescribeCudaError(call, status);
  return message.c_str();
}

bool ReadBuiltinArgs(const void* args, size_t args_bytes, QattnBuiltinArgs* out) {
  if (args_bytes != sizeof(QattnBuiltinArgs)) return false;
  std::memcpy(out, args, sizeof(QattnBuiltinArgs));
  return true;
}

// Built-in launchers: stream work without kernels, usable inside a submit() and by the runtime's tests.
const char* BuiltinFill(const void* args, size_t args_bytes, void* stream) {
  QattnBuiltinArgs a;
  if (!ReadBuiltinArgs(args, args_bytes, &a)) return "fill: args are not a 32-byte QattnBuiltinArgs";
  cudaError_t status =
      cudaMemsetAsync(reinterpret_cast<void*>(a.dst), a.value, a.bytes, static_cast<cudaStream_t>(stream));
  return status == cudaSuccess ? nullptr : LaunchFailure("cudaMemsetAsync", status);
}

const char* BuiltinCopy(const void* args, size_t args_bytes, void* stream) {
  QattnBuiltinArgs a;
  if (!ReadBuiltinArgs(args, args_bytes, &a)) return "copy: args are not a 32-byte QattnBuiltinArgs";
  cudaError_t status = cudaMemcpyAsync(reinterpret_cast<void*>(a.dst), reinterpret_cast<const void*>(a.src), a.bytes,
                                       cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream));
  return status == cudaSuccess ? nullptr : LaunchFailure("cudaMemcpyAsync(device to device)", status);
}

// Fails at enqueue time with a real, non-sticky CUDA error (an invalid copy direction), touching no memory.
// Kind 7 lies in the enum's value range (0..7) but names no direction.
const char* BuiltinFail(const void*, size_t, void* stream) {
  static int scratch = 0;
  cudaError_t status = cudaMemcpyAsync(&scratch, &scratch, sizeof(scratch), static_cast<cudaMemcpyKind>(7),
                                       static_cast<cudaStream_t>(stream));
  if (status == cudaSuccess) return "fail: cudaMemcpyAsync accepted an invalid copy direction";
  return LaunchFailure("cudaMemcpyAsync(invalid direction)", status);
}

Napi::BigInt LauncherAddress(Napi::Env env, qattn_launch_fn launcher) {
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(launcher)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* runtime = new Runtime(env);
  env.SetInstanceData<Runtime>(runtime);
  env.AddCleanupHook([runtime] { runtime->Stop(); });
  Napi::Object builtins = Napi::Object::New(env);
  builtins.Set("fill", LauncherAddress(env, BuiltinFill));
  builtins.Set("copy", LauncherAddress(env, BuiltinCopy));
  builtins.Set("fail", LauncherAddress(env, BuiltinFail));
  builtins.Freeze();
  exports.Set("abiVersion", Napi::Number::New(env, QATTN_LAUNCH_ABI_VERSION));
  exports.Set("builtinLaunchers", builtins);
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("free", Napi::Function::New(env, Free, "free"));
  exports.Set("upload", Napi::Function::New(env, Upload, "upload"));
  exports.Set("download", Napi::Function::New(env, Download, "download"));
  exports.Set("memset", Napi::Function::New(env, Memset, "memset"));
  exports.Set("launch", Napi::Function::New(env, Launch, "launch"));
  exports.Set("submit", Napi::Function::New(env, SubmitSteps, "submit"));
  exports.Set("time", Napi::Function::New(env, Time, "time"));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize, "synchronize"));
  exports.Set("trimCaches", Napi::Function::New(env, TrimCaches, "trimCaches"));
  exports.Set("memInfo", Napi::Function::New(env, MemInfo, "memInfo"));
  exports.Set("liveBuffers", Napi::Function::New(env, LiveBuffers, "liveBuffers"));
  exports.Set("tracing", Napi::Function::New(env, Tracing, "tracing"));
  exports.Set("setTrace", Napi::Function::New(env, SetTrace, "setTrace"));
  exports.Set("traceTake", Napi::Function::New(env, TraceTake, "traceTake"));
  return exports;
}

}  // namespace

NODE_API_MODULE(qattn_cuda_runtime, Init)
