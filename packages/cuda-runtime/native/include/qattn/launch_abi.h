// The C ABI between @qattn/cuda-runtime and the kernel addons of other @qattn packages.
//
// A kernel addon exports launchers of type `qattn_launch_fn` (as BigInt function pointers through its own binding).
// The runtime calls them on its queue thread, in submission order, with the runtime's stream: every kernel of every
// package is ordered with every upload, download and free on that one stream, in the driver's primary context.
// The addon never synchronizes and never allocates; device memory comes from the runtime as raw pointers packed into
// `args` (a plain C struct the addon defines and packs itself).
#ifndef QATTN_LAUNCH_ABI_H_
#define QATTN_LAUNCH_ABI_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Enqueues work on `stream` (a cudaStream_t). Returns NULL on success, otherwise a message naming the failed call;
// the message must stay valid until the next call on the same thread (a thread_local buffer does).
typedef const char* (*qattn_launch_fn)(const void* args, size_t args_bytes, void* stream);

#define QATTN_LAUNCH_ABI_VERSION 1

#ifdef __cplusplus
}
#endif

#endif  // QATTN_LAUNCH_ABI_H_
