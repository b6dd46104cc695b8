// @qattn/cuda-runtime native addon: device probe, device buffers, and one FIFO queue thread that owns the stream.
//
// Every operation that touches the device (alloc, upload, download, memset, free, kernel launch, timing) is a job on
// the queue: the main thread only packs the job and returns a promise, so the event loop never waits on the GPU.
// One queue thread means one submission order, which is the stream order the JS API promises.
#include <napi.h>

#include <cuda_runtime_api.h>

#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "qattn/launch_abi.h"

namespace {

std::string DescribeCudaError(const char* call, cudaError_t status) {
  return std::string(call) + " failed: " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + " = " +
         std::to_string(static_cast<int>(status)) + ")";
}

// Outcome of one job, filled on the queue thread and turned into a JS value on the main thread.
struct JobResult {
  std::string error;
  int cuda_status = 0;
  uint64_t pointer = 0;
  std::vector<double> samples_ms;
};

struct Job {
  std::function<void(JobResult&)> work;  // runs on the queue thread
  // Runs on the main thread; null for fire-and-forget jobs (free).
  std::unique_ptr<Napi::Promise::Deferred> deferred;
  std::function<Napi::Value(Napi::Env, const JobResult&)> to_value;
  std::vector<Napi::Reference<Napi::Value>> keep_alive;  // typed arrays read or written by `work`
  JobResult result;
};

class Runtime;
void CompleteJob(Napi::Env env, Napi::Function, Runtime* runtime, Job* raw_job);
using CompletionTsfn = Napi::TypedThreadSafeFunction<Runtime, Job, CompleteJob>;

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
  explicit Runtime(Napi::Env env) : env_(env) {}

  ~Runtime() { Stop(); }

  void Submit(std::unique_ptr<Job> job) {
    EnsureStarted();
    if (pending_++ == 0) tsfn_.Ref(env_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(job));
    }
    wake_.notify_one();
  }

  AllocationTable& allocations() { return allocations_; }
  cudaStream_t stream() const { return stream_; }

  // Called at environment teardown: finish the job in flight, drop the rest, join the thread.
  void Stop() {
    if (!started_) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      queue_.clear();
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
    tsfn_.Release();
    started_ = false;
  }

  // Main thread, after a job settled: let the process exit once nothing is pending.
  void OnJobSettled(Napi::Env env) {
    if (--pending_ == 0) tsfn_.Unref(env);
  }

 private:
  void EnsureStarted() {
    if (started_) return;
    tsfn_ = CompletionTsfn::New(env_, "qattn-cuda-queue", 0, 1, this);
    tsfn_.Unref(env_);
    stopping_ = false;
    started_ = true;
    thread_ = std::thread([this] { Loop(); });
  }

  void Loop() {
    for (;;) {
      std::unique_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      if (InitStream(job->result)) job->work(job->result);
      // Ownership passes to CompleteJob on the main thread. If the environment is already closing the call fails
      // and the job is leaked on purpose: its JS references may only be released on the main thread.
      tsfn_.NonBlockingCall(job.release());
    }
  }

  // The stream is created lazily on the queue thread, so that loading the addon never touches the driver.
  bool InitStream(JobResult& result) {
    if (stream_ != nullptr) return true;
    cudaError_t status = cudaSetDevice(0);
    if (status == cudaSuccess) status = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
    if (status != cudaSuccess) {
      result.error = DescribeCudaError("cudaStreamCreateWithFlags", status);
      result.cuda_status = status;
      stream_ = nullptr;
      return false;
    }
    return true;
  }

  Napi::Env env_;
  CompletionTsfn tsfn_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;
  bool started_ = false;
  size_t pending_ = 0;  // main thread only
  cudaStream_t stream_ = nullptr;
  AllocationTable allocations_;
};

// Main thread: settle the promise of a finished job. `env` is null when the environment is being torn down.
void CompleteJob(Napi::Env env, Napi::Function, Runtime* runtime, Job* raw_job) {
  std::unique_ptr<Job> job(raw_job);
  if (env == nullptr) {
    job.release();
    return;
  }
  if (job->deferred) {
    Napi::HandleScope scope(env);
    if (job->result.error.empty()) {
      job->deferred->Resolve(job->to_value ? job->to_value(env, job->result) : env.Undefined());
    } else {
      Napi::Error error = Napi::Error::New(env, job->result.error);
      error.Set("cudaStatus", Napi::Number::New(env, job->result.cuda_status));
      job->deferred->Reject(error.Value());
    }
  }
  runtime->OnJobSettled(env);
}

Runtime* GetRuntime(const Napi::CallbackInfo& info) { return info.Env().GetInstanceData<Runtime>(); }

bool Fail(JobResult& result, const char* call, cudaError_t status) {
  if (status == cudaSuccess) return false;
  result.error = DescribeCudaError(call, status);
  result.cuda_status = status;
  cudaGetLastError();  // clear a non-sticky error so that the process stays usable (e.g. after out-of-memory)
  return true;
}

uint64_t PointerArg(const Napi::Value& value, const char* name) {
  if (!value.IsBigInt()) throw Napi::TypeError::New(value.Env(), std::string(name) + " must be a bigint device pointer");
  bool lossless = false;
  uint64_t pointer = value.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(value.Env(), std::string(name) + " does not fit in 64 bits");
  return pointer;
}

double NumberArg(const Napi::Value& value, const char* name) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), std::string(name) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0) || number != static_cast<double>(static_cast<uint64_t>(number))) {
    throw Napi::RangeError::New(value.Env(), std::string(name) + " must be a non-negative integer");
  }
  return number;
}

Napi::TypedArray TypedArrayArg(const Napi::Value& value, const char* name) {
  if (!value.IsTypedArray()) throw Napi::TypeError::New(value.Env(), std::string(name) + " must be a typed array");
  return value.As<Napi::TypedArray>();
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

Napi::Value Submit(const Napi::CallbackInfo& info, std::unique_ptr<Job> job) {
  job->deferred = std::make_unique<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(info.Env()));
  Napi::Promise promise = job->deferred->Promise();
  GetRuntime(info)->Submit(std::move(job));
  return promise;
}

void CheckRange(const Napi::Env& env, Runtime* runtime, uint64_t pointer, size_t bytes, const char* call) {
  if (!runtime->allocations().Contains(pointer, bytes)) {
    throw Napi::RangeError::New(env, std::string(call) + ": [pointer, pointer + " + std::to_string(bytes) +
                                         ") is not inside a live allocation of this runtime");
  }
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

// alloc(bytes): Promise<bigint>
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  size_t bytes = static_cast<size_t>(NumberArg(info[0], "bytes"));
  Runtime* runtime = GetRuntime(info);
  auto job = std::make_unique<Job>();
  job->work = [runtime, bytes](JobResult& result) {
    void* pointer = nullptr;
    // cudaMalloc of 0 bytes returns a null pointer; one byte keeps every tensor a distinct live allocation.
    if (Fail(result, "cudaMalloc", cudaMalloc(&pointer, bytes == 0 ? 1 : bytes))) return;
    result.pointer = reinterpret_cast<uint64_t>(pointer);
    runtime->allocations().Insert(result.pointer, bytes);
  };
  job->to_value = [](Napi::Env env, const JobResult& result) -> Napi::Value {
    return Napi::BigInt::New(env, result.pointer);
  };
  return Submit(info, std::move(job));
}

// free(pointer): void. The allocation leaves the live table at once; cudaFree runs in stream order.
Napi::Value Free(const Napi::CallbackInfo& info) {
  uint64_t pointer = PointerArg(info[0], "pointer");
  Runtime* runtime = GetRuntime(info);
  if (!runtime->allocations().Erase(pointer)) return Napi::Boolean::New(info.Env(), false);
  auto job = std::make_unique<Job>();
  job->work = [pointer](JobResult& result) {
    Fail(result, "cudaFree", cudaFree(reinterpret_cast<void*>(pointer)));
  };
  runtime->Submit(std::move(job));
  return Napi::Boolean::New(info.Env(), true);
}

// upload(pointer, typedArray): Promise<void>; download(pointer, typedArray): Promise<void>
Napi::Value Copy(const Napi::CallbackInfo& info, bool to_device) {
  uint64_t pointer = PointerArg(info[0], "pointer");
  Napi::TypedArray array = TypedArrayArg(info[1], "host");
  HostView host = ViewOf(array);
  Runtime* runtime = GetRuntime(info);
  CheckRange(info.Env(), runtime, pointer, host.bytes, to_device ? "upload" : "download");
  auto job = std::make_unique<Job>();
  job->keep_alive.push_back(Napi::Persistent(static_cast<Napi::Value>(array)));
  job->work = [runtime, pointer, host, to_device](JobResult& result) {
    void* device = reinterpret_cast<void*>(pointer);
    cudaError_t status = to_device
                             ? cudaMemcpyAsync(device, host.data, host.bytes, cudaMemcpyHostToDevice, runtime->stream())
                             : cudaMemcpyAsync(host.data, device, host.bytes, cudaMemcpyDeviceToHost, runtime->stream());
    if (Fail(result, to_device ? "cudaMemcpyAsync(host to device)" : "cudaMemcpyAsync(device to host)", status)) return;
    Fail(result, "cudaStreamSynchronize", cudaStreamSynchronize(runtime->stream()));
  };
  return Submit(info, std::move(job));
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
  job->work = [runtime, pointer, value, bytes](JobResult& result) {
    if (Fail(result, "cudaMemsetAsync",
             cudaMemsetAsync(reinterpret_cast<void*>(pointer), value, bytes, runtime->stream())))
      return;
    Fail(result, "cudaStreamSynchronize", cudaStreamSynchronize(runtime->stream()));
  };
  return Submit(info, std::move(job));
}

qattn_launch_fn LauncherArg(const Napi::Value& value) {
  uint64_t address = PointerArg(value, "launcher");
  if (address == 0) throw Napi::TypeError::New(value.Env(), "launcher is a null function pointer");
  return reinterpret_cast<qattn_launch_fn>(address);
}

std::vector<uint8_t> ArgsBytes(const Napi::Value& value) {
  Napi::TypedArray array = TypedArrayArg(value, "args");
  HostView view = ViewOf(array);
  const uint8_t* bytes = static_cast<const uint8_t*>(view.data);
  return std::vector<uint8_t>(bytes, bytes + view.bytes);
}

// Runs one launcher on the queue's stream and reports both a launch error and an asynchronous kernel fault.
bool RunLauncher(JobResult& result, qattn_launch_fn launcher, const std::vector<uint8_t>& args, cudaStream_t stream) {
  const char* error = launcher(args.data(), args.size(), stream);
  if (error != nullptr) {
    result.error = error;
    return false;
  }
  return true;
}

// launch(launcher, args): Promise<void>. Resolves once the launched work has finished on the device.
Napi::Value Launch(const Napi::CallbackInfo& info) {
  qattn_launch_fn launcher = LauncherArg(info[0]);
  std::vector<uint8_t> args = ArgsBytes(info[1]);
  Runtime* runtime = GetRuntime(info);
  auto job = std::make_unique<Job>();
  job->work = [runtime, launcher, args = std::move(args)](JobResult& result) {
    if (!RunLauncher(result, launcher, args, runtime->stream())) return;
    Fail(result, "cudaStreamSynchronize after kernel launch", cudaStreamSynchronize(runtime->stream()));
  };
  return Submit(info, std::move(job));
}

// time(launcher, args, warmup, repeats): Promise<number[]> — milliseconds of each repeat, timed with CUDA events.
Napi::Value Time(const Napi::CallbackInfo& info) {
  qattn_launch_fn launcher = LauncherArg(info[0]);
  std::vector<uint8_t> args = ArgsBytes(info[1]);
  int warmup = static_cast<int>(NumberArg(info[2], "warmup"));
  int repeats = static_cast<int>(NumberArg(info[3], "repeats"));
  if (repeats < 1) throw Napi::RangeError::New(info.Env(), "repeats must be at least 1");
  Runtime* runtime = GetRuntime(info);
  auto job = std::make_unique<Job>();
  job->work = [runtime, launcher, args = std::move(args), warmup, repeats](JobResult& result) {
    cudaStream_t stream = runtime->stream();
    for (int i = 0; i < warmup; ++i) {
      if (!RunLauncher(result, launcher, args, stream)) return;
    }
    std::vector<cudaEvent_t> events(2 * static_cast<size_t>(repeats), nullptr);
    for (auto& event : events) {
      if (Fail(result, "cudaEventCreate", cudaEventCreate(&event))) break;
    }
    if (result.error.empty()) {
      for (int i = 0; i < repeats && result.error.empty(); ++i) {
        if (Fail(result, "cudaEventRecord", cudaEventRecord(events[2 * i], stream))) break;
        if (!RunLauncher(result, launcher, args, stream)) break;
        Fail(result, "cudaEventRecord", cudaEventRecord(events[2 * i + 1], stream));
      }
    }
    if (result.error.empty() && !Fail(result, "cudaStreamSynchronize", cudaStreamSynchronize(stream))) {
      for (int i = 0; i < repeats; ++i) {
        float ms = 0;
        if (Fail(result, "cudaEventElapsedTime", cudaEventElapsedTime(&ms, events[2 * i], events[2 * i + 1]))) break;
        result.samples_ms.push_back(ms);
      }
    }
    for (auto event : events) {
      if (event != nullptr) cudaEventDestroy(event);
    }
  };
  job->to_value = [](Napi::Env env, const JobResult& result) -> Napi::Value {
    Napi::Array samples = Napi::Array::New(env, result.samples_ms.size());
    for (size_t i = 0; i < result.samples_ms.size(); ++i) samples.Set(static_cast<uint32_t>(i), result.samples_ms[i]);
    return samples;
  };
  return Submit(info, std::move(job));
}

// synchronize(): Promise<void> — resolves once everything submitted before it has finished.
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  Runtime* runtime = GetRuntime(info);
  auto job = std::make_unique<Job>();
  job->work = [runtime](JobResult& result) {
    Fail(result, "cudaStreamSynchronize", cudaStreamSynchronize(runtime->stream()));
  };
  return Submit(info, std::move(job));
}

// memInfo(): Promise<{ free, total }> in bytes.
Napi::Value MemInfo(const Napi::CallbackInfo& info) {
  auto job = std::make_unique<Job>();
  auto sizes = std::make_shared<std::pair<size_t, size_t>>(0, 0);
  job->work = [sizes](JobResult& result) { Fail(result, "cudaMemGetInfo", cudaMemGetInfo(&sizes->first, &sizes->second)); };
  job->to_value = [sizes](Napi::Env env, const JobResult&) -> Napi::Value {
    Napi::Object out = Napi::Object::New(env);
    out.Set("free", static_cast<double>(sizes->first));
    out.Set("total", static_cast<double>(sizes->second));
    return out;
  };
  return Submit(info, std::move(job));
}

Napi::Value LiveBuffers(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(GetRuntime(info)->allocations().Count()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* runtime = new Runtime(env);
  env.SetInstanceData<Runtime>(runtime);
  env.AddCleanupHook([runtime] { runtime->Stop(); });
  exports.Set("abiVersion", Napi::Number::New(env, QATTN_LAUNCH_ABI_VERSION));
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("free", Napi::Function::New(env, Free, "free"));
  exports.Set("upload", Napi::Function::New(env, Upload, "upload"));
  exports.Set("download", Napi::Function::New(env, Download, "download"));
  exports.Set("memset", Napi::Function::New(env, Memset, "memset"));
  exports.Set("launch", Napi::Function::New(env, Launch, "launch"));
  exports.Set("time", Napi::Function::New(env, Time, "time"));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize, "synchronize"));
  exports.Set("memInfo", Napi::Function::New(env, MemInfo, "memInfo"));
  exports.Set("liveBuffers", Napi::Function::New(env, LiveBuffers, "liveBuffers"));
  return exports;
}

}  // namespace

NODE_API_MODULE(qattn_cuda_runtime, Init)
