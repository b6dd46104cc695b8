// @qattn/kv-cache's Node-API addon: the addresses of its launchers (kv_append.cu) and the packers of their argument
// blocks (kv_cache_args.h). It makes no CUDA call — all device work goes through @qattn/cuda-runtime's queue — so it
// loads on machines without a GPU. The TypeScript side is KVCacheCudaBinding (src/cuda/addon.ts).
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "kv_cache_args.h"
#include "qattn/launch_abi.h"

extern "C" const char* qattn_kv_append_launch(const void* args, size_t args_bytes, void* stream);
extern "C" const char* qattn_kv_clear_launch(const void* args, size_t args_bytes, void* stream);
extern "C" const char* qattn_kv_relayout_launch(const void* args, size_t args_bytes, void* stream);

namespace qattn {
size_t kv_compress_smem_bytes(int kv_heads, int head_dim, int page_size);
}

namespace {

Napi::Object ObjectArgument(const Napi::CallbackInfo& info, const char* what) {
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(info.Env(), std::string("kv-cache ") + what + ": expected an object");
  }
  return info[0].As<Napi::Object>();
}

Napi::Object ObjectField(const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (!value.IsObject()) throw Napi::TypeError::New(object.Env(), std::string("kv-cache args.") + name + " must be an object");
  return value.As<Napi::Object>();
}

int32_t IntField(const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (!value.IsNumber()) throw Napi::TypeError::New(object.Env(), std::string("kv-cache args.") + name + " must be a number");
  return value.As<Napi::Number>().Int32Value();
}

// A bigint device address; undefined or null is a null pointer (an absent pool, no rotation).
template <typename Pointer>
Pointer PointerField(const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined() || value.IsNull()) return nullptr;
  if (!value.IsBigInt()) throw Napi::TypeError::New(object.Env(), std::string("kv-cache args.") + name + " must be a bigint pointer");
  bool lossless = false;
  return reinterpret_cast<Pointer>(value.As<Napi::BigInt>().Uint64Value(&lossless));
}

qattn::KVPoolPtrs PoolField(const Napi::Object& tensor, const char* name) {
  qattn::KVPoolPtrs pool{};
  Napi::Value value = tensor.Get(name);
  if (value.IsUndefined() || value.IsNull()) return pool;
  Napi::Object o = ObjectField(tensor, name);
  pool.codes = PointerField<uint32_t*>(o, "codes");
  pool.step = PointerField<uint8_t*>(o, "step");
  pool.zero = PointerField<int8_t*>(o, "zero");
  pool.scales = PointerField<float*>(o, "scales");
  return pool;
}

qattn::KVTensorPtrs TensorField(const Napi::Object& args, const char* name) {
  Napi::Object o = ObjectField(args, name);
  qattn::KVTensorPtrs t{};
  t.sink = PointerField<float*>(o, "sink");
  t.buffer_codes = PointerField<int8_t*>(o, "bufferCodes");
  t.buffer_scales = PointerField<float*>(o, "bufferScales");
  t.page_table = PointerField<int32_t*>(o, "pageTable");
  t.page_bits = PointerField<uint8_t*>(o, "pageBits");
  t.pool8 = PoolField(o, "pool8");
  t.pool4 = PoolField(o, "pool4");
  t.pool2 = PoolField(o, "pool2");
  t.input = PointerField<const float*>(o, "input");
  t.stage_codes = PointerField<int8_t*>(o, "stageCodes");
  t.stage_scales = PointerField<float*>(o, "stageScales");
  t.stage_sink = PointerField<float*>(o, "stageSink");
  t.low_heads = IntField(o, "lowHeads");
  t.channel_major = IntField(o, "channelMajor");
  return t;
}

template <typename Args>
Napi::Value Bytes(Napi::Env env, const Args& args) {
  Napi::Uint8Array bytes = Napi::Uint8Array::New(env, sizeof(Args));
  std::memcpy(bytes.Data(), &args, sizeof(Args));
  return bytes;
}

Napi::Value PackAppendArgs(const Napi::CallbackInfo& info) {
  Napi::Object o = ObjectArgument(info, "packAppendArgs");
  qattn::KVAppendArgs a{};
  a.k = TensorField(o, "k");
  a.v = TensorField(o, "v");
  a.lengths = PointerField<int32_t*>(o, "lengths");
  a.k_mean = PointerField<float*>(o, "kMean");
  a.signs = PointerField<const float*>(o, "signs");
  a.k_partial = PointerField<double*>(o, "kPartial");
  a.status = PointerField<int32_t*>(o, "status");
  a.plan = PointerField<const int32_t*>(o, "plan");
  a.batch = IntField(o, "batch");
  a.kv_heads = IntField(o, "kvHeads");
  a.head_dim = IntField(o, "headDim");
  a.page_size = IntField(o, "pageSize");
  a.sink_tokens = IntField(o, "sinkTokens");
  a.max_pages = IntField(o, "maxPages");
  a.bits = IntField(o, "bits");
  a.entries = IntField(o, "entries");
  a.tokens = IntField(o, "tokens");
  a.chunks = IntField(o, "chunks");
  a.jobs = IntField(o, "jobs");
  a.check_finite = IntField(o, "checkFinite");
  if (a.bits != 8 && a.bits != 4) throw Napi::RangeError::New(info.Env(), "kv-cache args.bits must be 8 or 4");
  return Bytes(info.Env(), a);
}

Napi::Value PackClearArgs(const Napi::CallbackInfo& info) {
  Napi::Object o = ObjectArgument(info, "packClearArgs");
  qattn::KVClearArgs a{};
  a.lengths = PointerField<int32_t*>(o, "lengths");
  a.k_mean = PointerField<float*>(o, "kMean");
  a.k_page_table = PointerField<int32_t*>(o, "kPageTable");
  a.k_page_bits = PointerField<uint8_t*>(o, "kPageBits");
  a.v_page_table = PointerField<int32_t*>(o, "vPageTable");
  a.v_page_bits = PointerField<uint8_t*>(o, "vPageBits");
  a.sequence = IntField(o, "sequence");
  a.batch = IntField(o, "batch");
  a.kv_heads = IntField(o, "kvHeads");
  a.head_dim = IntField(o, "headDim");
  a.max_pages = IntField(o, "maxPages");
  return Bytes(info.Env(), a);
}

Napi::Value PackRelayoutArgs(const Napi::CallbackInfo& info) {
  Napi::Object o = ObjectArgument(info, "packRelayoutArgs");
  qattn::KVRelayoutArgs a{};
  a.old_table = PointerField<const int32_t*>(o, "oldTable");
  a.old_bits = PointerField<const uint8_t*>(o, "oldBits");
  a.new_table = PointerField<int32_t*>(o, "newTable");
  a.new_bits = PointerField<uint8_t*>(o, "newBits");
  a.groups = IntField(o, "groups");
  a.old_max = IntField(o, "oldMax");
  a.new_max = IntField(o, "newMax");
  return Bytes(info.Env(), a);
}

Napi::Value CompressSharedBytes(const Napi::CallbackInfo& info) {
  Napi::Object o = ObjectArgument(info, "compressSharedBytes");
  return Napi::Number::New(info.Env(), static_cast<double>(qattn::kv_compress_smem_bytes(
                                           IntField(o, "kvHeads"), IntField(o, "headDim"), IntField(o, "pageSize"))));
}

Napi::BigInt Address(Napi::Env env, qattn_launch_fn fn) {
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(fn)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, QATTN_LAUNCH_ABI_VERSION));
  exports.Set("appendLauncher", Address(env, &qattn_kv_append_launch));
  exports.Set("clearLauncher", Address(env, &qattn_kv_clear_launch));
  exports.Set("relayoutLauncher", Address(env, &qattn_kv_relayout_launch));
  exports.Set("appendArgsBytes", Napi::Number::New(env, sizeof(qattn::KVAppendArgs)));
  exports.Set("chunkTokens", Napi::Number::New(env, qattn::kAppendChunkTokens));
  exports.Set("packAppendArgs", Napi::Function::New(env, PackAppendArgs, "packAppendArgs"));
  exports.Set("packClearArgs", Napi::Function::New(env, PackClearArgs, "packClearArgs"));
  exports.Set("packRelayoutArgs", Napi::Function::New(env, PackRelayoutArgs, "packRelayoutArgs"));
  exports.Set("compressSharedBytes", Napi::Function::New(env, CompressSharedBytes, "compressSharedBytes"));
  return exports;
}

}  // namespace

NODE_API_MODULE(qattn_kv_cache, Init)
