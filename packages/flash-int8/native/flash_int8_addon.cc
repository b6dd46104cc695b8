// flash-int8's Node-API addon: the shared attention addon surface (qattn/attention_addon.h) around its launcher.
#include "qattn/attention_addon.h"

extern "C" const char* qattn_flash_int8_launch(const void* args, size_t args_bytes, void* stream);

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return qattn::InitAttentionAddon(env, exports, "flash-int8", &qattn_flash_int8_launch);
}

}  // namespace

NODE_API_MODULE(qattn_flash_int8, Init)
