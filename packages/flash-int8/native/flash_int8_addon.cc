// flash-int8's Node-API addon: exposes the C launcher and packs its argument block. It makes no CUDA call itself, so
// it loads on machines without a GPU; all device work goes through @qattn/cuda-runtime's queue.
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "flash_int8_args.h"
#include "tile_config.h"

extern "C" const char* qattn_flash_int8_launch(const void* args, size_t args_bytes, void* stream);

namespace {

using qattn::FlashInt8Args;

int32_t IntField(const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (!value.IsNumber()) throw Napi::TypeError::New(object.Env(), std::string("flash-int8 args.") + name + " must be a number");
  return value.As<Napi::Number>().Int32Value();
}

template <typename Pointer>
Pointer PointerField(const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined() || value.IsNull()) return nullptr;
  if (!value.IsBigInt()) throw Napi::TypeError::New(object.Env(), std::string("flash-int8 args.") + name + " must be a bigint pointer");
  bool lossless = false;
  return reinterpret_cast<Pointer>(value.As<Napi::BigInt>().Uint64Value(&lossless));
}

// layout({batch, heads, kvHeads, seqQ, seqKV, headDim}): padded lengths and workspace byte sizes.
Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Object shape = info[0].As<Napi::Object>();
  const int64_t batch = IntField(shape, "batch"), heads = IntField(shape, "heads"), kv_heads = IntField(shape, "kvHeads");
  const int64_t seq_q = IntField(shape, "seqQ"), seq_kv = IntField(shape, "seqKV"), head_dim = IntField(shape, "headDim");
  const int64_t seq_q_pad = qattn::round_up(seq_q, qattn::kSeqQPad);
  const int64_t seq_kv_pad = qattn::round_up(seq_kv, qattn::kSeqKVPad);
  const int64_t stat_splits = (seq_kv + qattn::kStatTokensPerSplit - 1) / qattn::kStatTokensPerSplit;
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
  out.Set("vScaleBytes", static_cast<double>(batch * kv_heads * (seq_kv_pad / qattn::kMinKeyBlock) * head_dim * 8));
  out.Set("meanBytes", static_cast<double>(batch * kv_heads * head_dim * 4));
  out.Set("statBytes", static_cast<double>(2 * batch * kv_heads * stat_splits * head_dim * 4));
  return out;
}

// packArgs({...pointers as bigint, shape and flags as numbers}): the FlashInt8Args block as a Uint8Array.
Napi::Value PackArgs(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  FlashInt8Args args{};
  args.q = PointerField<const float*>(o, "q");
  args.k = PointerField<const float*>(o, "k");
  args.v = PointerField<const float*>(o, "v");
  args.out = PointerField<float*>(o, "out");
  args.q_int8 = PointerField<int8_t*>(o, "qInt8");
  args.q_scale = PointerField<float*>(o, "qScale");
  args.k_int8 = PointerField<int8_t*>(o, "kInt8");
  args.k_scale = PointerField<float*>(o, "kScale");
  args.v_t = PointerField<void*>(o, "vT");
  args.v_scale = PointerField<float*>(o, "vScale");
  args.k_mean = PointerField<float*>(o, "kMean");
  args.v_mean = PointerField<float*>(o, "vMean");
  args.stat_partial = PointerField<float*>(o, "statPartial");
  args.batch = IntField(o, "batch");
  args.heads = IntField(o, "heads");
  args.kv_heads = IntField(o, "kvHeads");
  args.seq_q = IntField(o, "seqQ");
  args.seq_kv = IntField(o, "seqKV");
  args.head_dim = IntField(o, "headDim");
  args.seq_q_pad = IntField(o, "seqQPad");
  args.seq_kv_pad = IntField(o, "seqKVPad");
  args.stat_splits = IntField(o, "statSplits");
  args.sm_scale_log2 = static_cast<float>(o.Get("smScaleLog2").As<Napi::Number>().DoubleValue());
  args.causal = IntField(o, "causal");
  args.pv_fp16 = IntField(o, "pvFp16");
  args.p_rowmax = IntField(o, "pRowmax");
  args.smooth_k = IntField(o, "smoothK");
  args.smooth_v = IntField(o, "smoothV");
  const int32_t p_code_max = IntField(o, "pCodeMax");
  if (p_code_max != 127 && p_code_max != 255) throw Napi::RangeError::New(info.Env(), "flash-int8 args.pCodeMax must be 127 or 255");
  args.p_code_max = static_cast<float>(p_code_max);
  args.p_code_unit = 1.f / static_cast<float>(p_code_max);
  args.key_block = IntField(o, "keyBlock");
  args.stages = IntField(o, "stages");
  Napi::Uint8Array bytes = Napi::Uint8Array::New(info.Env(), sizeof(FlashInt8Args));
  std::memcpy(bytes.Data(), &args, sizeof(FlashInt8Args));
  return bytes;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  exports.Set("launcher", Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&qattn_flash_int8_launch))));
  exports.Set("headDims", [&] {
    Napi::Array dims = Napi::Array::New(env, 5);
    const int supported[] = {32, 64, 96, 128, 256};
    for (uint32_t i = 0; i < 5; ++i) dims.Set(i, supported[i]);
    return dims;
  }());
  Napi::Array key_blocks = Napi::Array::New(env, 2);
  key_blocks.Set(0u, 32);
  key_blocks.Set(1u, 64);
  exports.Set("keyBlocks", key_blocks);
  exports.Set("stageQuantize", Napi::Number::New(env, qattn::kStageQuantize));
  exports.Set("stageAttention", Napi::Number::New(env, qattn::kStageAttention));
  exports.Set("layout", Napi::Function::New(env, Layout, "layout"));
  exports.Set("packArgs", Napi::Function::New(env, PackArgs, "packArgs"));
  return exports;
}

}  // namespace

NODE_API_MODULE(qattn_flash_int8, Init)
