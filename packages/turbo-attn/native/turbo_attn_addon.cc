// turbo-attn's Node-API addon: the shared attention addon surface (qattn/attention_addon.h) around its launcher, plus
// the SAS probe (sas_probe.h) for the GPU tests.
#include <cstring>

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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  qattn::InitAttentionAddon(env, exports, "turbo-attn", &qattn_turbo_attn_launch);
  exports.Set("sasProbeLauncher",
              Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&qattn_turbo_sas_probe_launch))));
  exports.Set("packSasProbeArgs", Napi::Function::New(env, PackSasProbeArgs, "packSasProbeArgs", const_cast<char*>("turbo-attn")));
  return exports;
}

}  // namespace

NODE_API_MODULE(qattn_turbo_attn, Init)
