// The Node-API surface every attention kernel addon exports (the TypeScript side is AttentionKernelBinding in
// @qattn/cuda-runtime's src/attention-plan.ts). The addon makes no CUDA call: it packs the argument block
// (attention_args.h) and hands out its launcher's address; all device work goes through the runtime's queue, so the
// addon loads on machines without a GPU.
//
//   Napi::Object Init(Napi::Env env, Napi::Object exports) {
//     return qattn::InitAttentionAddon(env, exports, "turbo-attn", &qattn_turbo_attn_launch);
//   }
#pragma once

#include <napi.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "qattn/arch_path.h"
#include "qattn/attention_args.h"
#include "qattn/capabilities.h"
#include "qattn/launch_abi.h"
#include "qattn/tile_config.h"

namespace qattn {

namespace addon_detail {

inline const char* package_of(const Napi::CallbackInfo& info) { return static_cast<const char*>(info.Data()); }

inline Napi::Object ObjectArgument(const Napi::CallbackInfo& info, const char* what) {
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(info.Env(), std::string(package_of(info)) + " " + what + ": expected an object");
  }
  return info[0].As<Napi::Object>();
}

inline int32_t IntField(const Napi::CallbackInfo& info, const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (!value.IsNumber()) {
    throw Napi::TypeError::New(object.Env(), std::string(package_of(info)) + " args." + name + " must be a number");
  }
  return value.As<Napi::Number>().Int32Value();
}

inline float FloatField(const Napi::CallbackInfo& info, const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (!value.IsNumber()) {
    throw Napi::TypeError::New(object.Env(), std::string(package_of(info)) + " args." + name + " must be a number");
  }
  return static_cast<float>(value.As<Napi::Number>().DoubleValue());
}

template <typename Pointer>
Pointer PointerField(const Napi::CallbackInfo& info, const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined() || value.IsNull()) return nullptr;
  if (!value.IsBigInt()) {
    throw Napi::TypeError::New(object.Env(), std::string(package_of(info)) + " args." + name + " must be a bigint pointer");
  }
  bool lossless = false;
  return reinterpret_cast<Pointer>(value.As<Napi::BigInt>().Uint64Value(&lossless));
}

// layout({batch, heads, kvHeads, seqQ, seqKV, headDim}): padded lengths and workspace byte sizes.
inline Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Object shape = ObjectArgument(info, "layout");
  const int64_t batch = IntField(info, shape, "batch"), heads = IntField(info, shape, "heads");
  const int64_t kv_heads = IntField(info, shape, "kvHeads");
  const int64_t seq_q = IntField(info, shape, "seqQ"), seq_kv = IntField(info, shape, "seqKV");
  const int64_t head_dim = IntField(info, shape, "headDim");
  const int64_t seq_q_pad = round_up(seq_q, kSeqQPad);
  const int64_t seq_kv_pad = round_up(seq_kv, kSeqKVPad);
  const int64_t stat_splits = (seq_kv + kStatTokensPerSplit - 1) / kStatTokensPerSplit;
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("seqQPad", static_cast<double>(seq_q_pad));
  out.Set("seqKVPad", static_cast<double>(seq_kv_pad));
  out.Set("statSplits", static_cast<double>(stat_splits));
  out.Set("qInt8Bytes", static_cast<double>(batch * heads * seq_q_pad * head_dim));
  out.Set("qScaleBytes", static_cast<double>(batch * heads * seq_q_pad * 4));
  out.Set("kInt8Bytes", static_cast<double>(batch * kv_heads * seq_kv_pad * head_dim));
  out.Set("kScaleBytes", static_cast<double>(batch * kv_heads * seq_kv_pad * 8));
  out.Set("vInt8Bytes", static_cast<double>(batch * kv_heads * seq_kv_pad * head_dim));
  out.Set("vFp16Bytes", static_cast<double>(batch * kv_heads * seq_kv_pad * head_dim * 2));
  out.Set("vScaleBytes", static_cast<double>(batch * kv_heads * (seq_kv_pad / kMinKeyBlock) * head_dim * 8));
  out.Set("meanBytes", static_cast<double>(batch * kv_heads * head_dim * 4));
  out.Set("statBytes", static_cast<double>(2 * batch * kv_heads * stat_splits * head_dim * 4));
  return out;
}

// packArgs({...pointers as bigint, shape and flags as numbers}): the AttentionArgs block as a Uint8Array.
inline Napi::Value PackArgs(const Napi::CallbackInfo& info) {
  Napi::Object o = ObjectArgument(info, "packArgs");
  AttentionArgs args{};
  args.q = PointerField<const float*>(info, o, "q");
  args.k = PointerField<const float*>(info, o, "k");
  args.v = PointerField<const float*>(info, o, "v");
  args.out = PointerField<float*>(info, o, "out");
  args.q_int8 = PointerField<int8_t*>(info, o, "qInt8");
  args.q_scale = PointerField<float*>(info, o, "qScale");
  args.k_int8 = PointerField<int8_t*>(info, o, "kInt8");
  args.k_scale = PointerField<float*>(info, o, "kScale");
  args.v_t = PointerField<void*>(info, o, "vT");
  args.v_scale = PointerField<float*>(info, o, "vScale");
  args.k_mean = PointerField<float*>(info, o, "kMean");
  args.v_mean = PointerField<float*>(info, o, "vMean");
  args.stat_partial = PointerField<float*>(info, o, "statPartial");
  args.batch = IntField(info, o, "batch");
  args.heads = IntField(info, o, "heads");
  args.kv_heads = IntField(info, o, "kvHeads");
  args.seq_q = IntField(info, o, "seqQ");
  args.seq_kv = IntField(info, o, "seqKV");
  args.head_dim = IntField(info, o, "headDim");
  args.seq_q_pad = IntField(info, o, "seqQPad");
  args.seq_kv_pad = IntField(info, o, "seqKVPad");
  args.stat_splits = IntField(info, o, "statSplits");
  args.sm_scale_log2 = FloatField(info, o, "smScaleLog2");
  args.causal = IntField(info, o, "causal");
  args.pv_fp16 = IntField(info, o, "pvFp16");
  args.p_rowmax = IntField(info, o, "pRowmax");
  args.smooth_k = IntField(info, o, "smoothK");
  args.smooth_v = IntField(info, o, "smoothV");
  const int32_t p_code_max = IntField(info, o, "pCodeMax");
  if (p_code_max != 127 && p_code_max != 255) {
    throw Napi::RangeError::New(info.Env(), std::string(package_of(info)) + " args.pCodeMax must be 127 or 255");
  }
  args.p_code_max = static_cast<float>(p_code_max);
  args.p_code_unit = 1.f / static_cast<float>(p_code_max);
  args.key_block = IntField(info, o, "keyBlock");
  args.q_rows_per_scale = IntField(info, o, "qRowsPerScale");
  args.k_rows_per_scale = IntField(info, o, "kRowsPerScale");
  args.v_scale_per_block = IntField(info, o, "vScalePerBlock");
  args.exponent = IntField(info, o, "exponent");
  args.sas_threshold = FloatField(info, o, "sasThreshold");
  args.skip_sparse_tiles = IntField(info, o, "skipSparseTiles");
  args.stages = IntField(info, o, "stages");
  if (args.q_rows_per_scale < 1 || args.k_rows_per_scale < 1) {
    throw Napi::RangeError::New(info.Env(), std::string(package_of(info)) + " args.qRowsPerScale/kRowsPerScale must be >= 1");
  }
  Napi::Uint8Array bytes = Napi::Uint8Array::New(info.Env(), sizeof(AttentionArgs));
  std::memcpy(bytes.Data(), &args, sizeof(AttentionArgs));
  return bytes;
}

// archPath(major, minor): {path, error?} of arch_path.h under the process's QATTN_CUDA_ARCH_PATH (tests).
inline Napi::Value ArchPath(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(package_of(info)) + " archPath(major, minor): expected two numbers");
  }
  const ArchChoice choice = choose_attention_arch_path(info[0].As<Napi::Number>().Int32Value(),
                                                       info[1].As<Napi::Number>().Int32Value(), std::getenv(kArchPathEnv));
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("path", arch_path_name(choice.path));
  if (choice.error != nullptr) out.Set("error", choice.error);
  return out;
}

// attentionKernel(major, minor, headDim, pvInt8): {kernel: 'sm90a' | 'sm80', error?} — which attention kernel a call
// of that head dim and P·V precision runs on a device of that compute capability under the process's
// QATTN_CUDA_ARCH_PATH (arch_path.h; tests of the dispatch without a device).
inline Napi::Value AttentionKernel(const Napi::CallbackInfo& info) {
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsBoolean()) {
    throw Napi::TypeError::New(info.Env(), std::string(package_of(info)) + " attentionKernel(major, minor, headDim, pvInt8): expected three numbers and a boolean");
  }
  const char* override_path = std::getenv(kArchPathEnv);
  const ArchChoice choice = choose_attention_arch_path(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), override_path);
  const bool sm90a = choice.path == AttentionArchPath::kSm90 &&
                     sm90_kernel_runs(info[2].As<Napi::Number>().Int32Value(), info[3].As<Napi::Boolean>().Value(), sm90_forced_by(override_path));
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("kernel", sm90a ? "sm90a" : "sm80");
  if (choice.error != nullptr) out.Set("error", choice.error);
  return out;
}

// sm90Schedule(): {schedule, error?} of arch_path.h under the process's QATTN_SM90_SCHEDULE (tests, bench labels).
inline Napi::Value Sm90ScheduleOf(const Napi::CallbackInfo& info) {
  const Sm90ScheduleChoice choice = choose_sm90_schedule(std::getenv(kSm90ScheduleEnv));
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("schedule", sm90_schedule_name(choice.schedule));
  if (choice.error != nullptr) out.Set("error", choice.error);
  return out;
}

inline Napi::Array IntArray(Napi::Env env, const int* values, uint32_t count) {
  Napi::Array array = Napi::Array::New(env, count);
  for (uint32_t i = 0; i < count; ++i) array.Set(i, values[i]);
  return array;
}

}  // namespace addon_detail

// Fills `exports` with the shared attention addon surface; `package` (a string literal) names the addon in errors.
inline Napi::Object InitAttentionAddon(Napi::Env env, Napi::Object exports, const char* package, qattn_launch_fn launcher) {
  using namespace addon_detail;
  void* data = const_cast<char*>(package);
  exports.Set("abiVersion", Napi::Number::New(env, QATTN_LAUNCH_ABI_VERSION));
  exports.Set("argsBytes", Napi::Number::New(env, sizeof(AttentionArgs)));
  exports.Set("launcher", Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(launcher))));
  exports.Set("capabilitiesEntry", Napi::String::New(env, QATTN_CAPABILITIES_ENTRY));
#define QATTN_ADDON_LIST_ITEM(value) value,
  static const int head_dims[] = {QATTN_FOR_EACH_HEAD_DIM(QATTN_ADDON_LIST_ITEM)};
  static const int key_blocks[] = {QATTN_FOR_EACH_KEY_BLOCK(QATTN_ADDON_LIST_ITEM)};
#undef QATTN_ADDON_LIST_ITEM
  exports.Set("headDims", IntArray(env, head_dims, sizeof(head_dims) / sizeof(int)));
  exports.Set("keyBlocks", IntArray(env, key_blocks, sizeof(key_blocks) / sizeof(int)));
  exports.Set("stageQuantize", Napi::Number::New(env, kStageQuantize));
  exports.Set("stageAttention", Napi::Number::New(env, kStageAttention));
  exports.Set("exponentExp2", Napi::Number::New(env, kExponentExp2));
  exports.Set("exponentSas", Napi::Number::New(env, kExponentSas));
  exports.Set("exponentSasUnit", Napi::Number::New(env, kExponentSasUnit));
  exports.Set("layout", Napi::Function::New(env, Layout, "layout", data));
  exports.Set("packArgs", Napi::Function::New(env, PackArgs, "packArgs", data));
  exports.Set("archPath", Napi::Function::New(env, ArchPath, "archPath", data));
  exports.Set("sm90Schedule", Napi::Function::New(env, Sm90ScheduleOf, "sm90Schedule", data));
  exports.Set("attentionKernel", Napi::Function::New(env, AttentionKernel, "attentionKernel", data));
  return exports;
}

}  // namespace qattn
