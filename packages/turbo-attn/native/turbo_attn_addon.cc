// turbo-attn's Node-API addon: the shared attention addon surface (qattn/attention_addon.h) around its launcher, plus
// the SAS probe (sas_probe.h) for the GPU tests.
#include <cstring>
#include <string>

#include <cstddef>

#include "decode_args.h"
#include "qattn/attention_addon.h"
#include "sas_probe.h"

extern "C" const char* qattn_turbo_attn_launch(const void* args, size_t args_bytes, void* stream);
extern "C" const char* qattn_turbo_sas_probe_launch(const void* args, size_t args_bytes, void* stream);

namespace {

// packSasProbeArgs({x, out, count, threshold}): the SasProbeArgs block as a Uint8Array.
Napi::Value PackSasProbeArgs(const Napi::CallbackInfo& info) {
  Napi::Object o = qattn::addon_detail::ObjectArgument(info, "packSasProbeArgs");
  qattn::SasProbeArgs args{};
  args.x = qattn::addon_detail::PointerField<const float*>(info, o, "x");
  args.out = qattn::addon_detail::PointerField<float*>(info, o, "out");
  args.count = qattn::addon_detail::IntField(info, o, "count");
  args.threshold = qattn::addon_detail::FloatField(info, o, "threshold");
  Napi::Uint8Array bytes = Napi::Uint8Array::New(info.Env(), sizeof(args));
  std::memcpy(bytes.Data(), &args, sizeof(args));
  return bytes;
}

// decodeArgsLayout: { bytes, fields: { name: [offset, kind] } } of qattn::DecodeArgs (decode_args.h), so TypeScript
// packs the block itself (src/decode/cuda/args.ts) without a Node-API call per field on every decode step.
Napi::Object DecodeArgsLayout(Napi::Env env) {
  Napi::Object fields = Napi::Object::New(env);
#define QATTN_DECODE_LAYOUT_FIELD(name, kind, member)                                                  \
  {                                                                                                    \
    Napi::Array entry = Napi::Array::New(env, 2);                                                      \
    entry.Set(0u, Napi::Number::New(env, static_cast<double>(offsetof(qattn::DecodeArgs, member))));   \
    entry.Set(1u, Napi::String::New(env, std::string(1, kind)));                                       \
    fields.Set(name, entry);                                                                           \
  }
  QATTN_DECODE_ARG_FIELDS(QATTN_DECODE_LAYOUT_FIELD)
#undef QATTN_DECODE_LAYOUT_FIELD
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("bytes", Napi::Number::New(env, sizeof(qattn::DecodeArgs)));
  layout.Set("fields", fields);
  return layout;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  qattn::InitAttentionAddon(env, exports, "turbo-attn", &qattn_turbo_attn_launch);
  exports.Set("sasProbeLauncher",
              Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&qattn_turbo_sas_probe_launch))));
  exports.Set("decodeLauncher",
              Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&qattn_turbo_decode_launch))));
  exports.Set("decodeArgsLayout", DecodeArgsLayout(env));
  exports.Set("packSasProbeArgs", Napi::Function::New(env, PackSasProbeArgs, "packSasProbeArgs", const_cast<char*>("turbo-attn")));
  return exports;
}

}  // namespace

NODE_API_MODULE(qattn_turbo_attn, Init)
