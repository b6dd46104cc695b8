"""PyTorch peers of qattn-bench: times torch's attention backends on the shapes of a qattn run.

Input (stdin, JSON): {"mode": "sweep" | "decode-cache" (default "sweep"), "shapes": [{batch, heads, kvHeads, seqQ, seqKV,
headDim, causal}], "warmup": int, "warmupMs": number, "repeats": int, "seed": int, "mathMaxBytes": int, "accuracyRows": int,
and in sweep mode optionally "copyBytes": [int per shape]}.
Output (stdout, JSON): {"status": "ok" | "unavailable", "reason"?, "python", "torch"?, "cudaRuntime"?, "device"?,
"l2CacheBytes"?, "cells": [{"peer", "shapeIndex", "status", "medianMs", "minMs", "samplesMs", "peakDeviceBytes",
"accuracy"?, "error"?, "bytesMoved" (decode-cache mode, and the sweep's copy-quant), "gqa"? (decode-cache)}]}.
Progress goes to stderr as "progress <done> <total> <label>" lines.

Modes:
- sweep: scaled_dot_product_attention with the flash backend in fp16, cuDNN in bf16 and math in fp32 (the check); with
  "copyBytes", first per shape copy-quant: a device-to-device copy (dst.copy_(src), uint8) of copyBytes / 2 bytes, i.e.
  copyBytes read plus written — the traffic of qattn's quantization pass on the shape (src/quant-traffic.ts), so its
  GB/s is the bandwidth that pass can approach. "bytesMoved" = 2 × the copied bytes, as decode-cache's copy counts.
- decode-cache (`qattn-bench --preset decode-cache`): SDPA decode over plain fp16/bf16 K/V — flash and cuDNN, each in
  fp16 and bf16 — with GQA through enable_gqa=True, or, where a backend or torch version refuses it, K/V expanded to
  every query head with repeat_interleave outside the timed region (the cell's "gqa" says which); and copy-fp16, a
  device-to-device copy of as many bytes as the fp16 K and V (the bandwidth ceiling a decode step can approach).
  "bytesMoved" is what one call moves through device memory: the K and V tensors it reads for SDPA (q and the output
  are under 1% at these shapes and not counted), read plus write (2 × the fp16 K/V bytes) for the copy.

Timing: CUDA events around each call after warm-up ("warmup" calls, then more until "warmupMs" of wall time has
passed: the GPU idles down during the bench's CPU-only work, and a few short calls run at idle clocks), median of the
repeats; inputs are device-resident and created
outside the timed region. Causal masking is bottom-right aligned like qattn's: for seqQ == seqKV that is torch's
is_causal; for seqQ == 1 the mask is empty; otherwise torch.nn.attention.bias.causal_lower_right.
Accuracy: relative L2 and cosine of batch 0, the first heads and the last query rows against float64 torch math on
the same float32 inputs (normal data: torch.randn).
QATTN_PEERS_DEVICE=cpu smoke-tests this script on a machine without a GPU (host clock; the GPU-only backends report
errors); the report then says device "cpu".
"""
import json
import os
import platform
import sys
import time


# As src/warmup.ts: the most unrecorded calls a time-based warm-up makes.
MAX_WARMUP_CALLS = 2000


def emit(payload):
    sys.stdout.write(json.dumps(payload))
    sys.stdout.write("\n")
    sys.stdout.flush()


def progress(done, total, label):
    sys.stderr.write(f"progress {done} {total} {label}\n")
    sys.stderr.flush()


def error_of(err):
    message = str(err).splitlines()[0] if str(err) else type(err).__name__
    return {"code": type(err).__name__, "message": message}


def median_of(samples):
    ordered = sorted(samples)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


class Env:
    """torch, the device and the clocks shared by both modes."""

    def __init__(self, torch, on_cpu):
        from torch.nn.attention import SDPBackend, sdpa_kernel
        import torch.nn.functional as F

        self.torch = torch
        self.F = F
        self.SDPBackend = SDPBackend
        self.sdpa_kernel = sdpa_kernel
        self.on_cpu = on_cpu
        self.device = torch.device("cpu" if on_cpu else "cuda")

    def synchronize(self):
        if not self.on_cpu:
            self.torch.cuda.synchronize()

    def timed(self, call):
        """Milliseconds of one call: CUDA events on the GPU (host clock only for the CPU smoke test)."""
        if self.on_cpu:
            start = time.perf_counter()
            call()
            return lambda: (time.perf_counter() - start) * 1e3
        start, end = self.torch.cuda.Event(enable_timing=True), self.torch.cuda.Event(enable_timing=True)
        start.record()
        call()
        end.record()
        return lambda: start.elapsed_time(end)  # read after the final synchronize

    def measure(self, call, warmup, repeats, warmup_ms=0.0):
        """`warmup` untimed calls, more until `warmup_ms` of wall time has passed (each checked after a synchronize,
        so the time is GPU work, at most MAX_WARMUP_CALLS calls), then one sample per repeat; returns the cell fields
        of the timing."""
        start = time.perf_counter()
        calls = 0
        for _ in range(warmup):
            call()
            calls += 1
        while warmup_ms > 0 and calls < MAX_WARMUP_CALLS:
            self.synchronize()
            if (time.perf_counter() - start) * 1e3 >= warmup_ms:
                break
            call()
            calls += 1
        readers = [self.timed(call) for _ in range(repeats)]
        self.synchronize()
        samples = [read() for read in readers]
        return {"medianMs": median_of(samples), "minMs": min(samples), "samplesMs": samples}

    def reset_peak(self):
        self.synchronize()
        if not self.on_cpu:
            self.torch.cuda.reset_peak_memory_stats()

    def peak(self, cell):
        if not self.on_cpu:
            cell["peakDeviceBytes"] = self.torch.cuda.max_memory_allocated()

    def release(self):
        if not self.on_cpu:
            self.torch.cuda.empty_cache()

    def inputs(self, shape, seed):
        """q, k, v in float32 (normal data) and the mask arguments of SDPA for a shape."""
        torch = self.torch
        b, h, hkv = shape["batch"], shape["heads"], shape["kvHeads"]
        sq, skv, d, causal = shape["seqQ"], shape["seqKV"], shape["headDim"], bool(shape["causal"])
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed)
        q32 = torch.randn(b, h, sq, d, device=self.device, generator=gen)
        k32 = torch.randn(b, hkv, skv, d, device=self.device, generator=gen)
        v32 = torch.randn(b, hkv, skv, d, device=self.device, generator=gen)
        mask, is_causal = None, False
        if causal and sq == skv:
            is_causal = True
        elif causal and sq > 1:
            from torch.nn.attention.bias import causal_lower_right

            mask = causal_lower_right(sq, skv)
        return q32, k32, v32, {"attn_mask": mask, "is_causal": is_causal}

    def reference(self, shape, q32, k32, v32, accuracy_rows):
        """Float64 SDPA on a slice (batch 0, the first min(h, 2) heads, the last rows) and a function scoring an output."""
        torch, F = self.torch, self.F
        h, hkv, sq, skv = shape["heads"], shape["kvHeads"], shape["seqQ"], shape["seqKV"]
        rows = min(sq, accuracy_rows)
        ref_heads = min(h, 2)
        kv_index = torch.arange(ref_heads, device=self.device) // (h // hkv)
        q_ref = q32[0:1, :ref_heads, sq - rows:].double()
        k_ref = k32[0:1, kv_index].double()
        v_ref = v32[0:1, kv_index].double()
        ref_mask = None
        if shape["causal"] and rows > 1:
            offset = skv - sq + (sq - rows)
            ref_mask = torch.ones(rows, skv, dtype=torch.bool, device=self.device).tril(diagonal=offset)
        with self.sdpa_kernel(self.SDPBackend.MATH):
            expected = F.scaled_dot_product_attention(q_ref, k_ref, v_ref, attn_mask=ref_mask)

        def score(out):
            actual = out[0:1, :ref_heads, sq - rows:].double()
            diff = torch.linalg.vector_norm(actual - expected).item()
            norm = torch.linalg.vector_norm(expected).item()
            cos = F.cosine_similarity(actual.flatten(), expected.flatten(), dim=0).item()
            return {"relL2": diff / norm if norm > 0 else 0.0, "cos": cos}

        return score


def run_sweep(env, config, cells):
    torch, SDPBackend, F = env.torch, env.SDPBackend, env.F
    peers = [
        ("sdpa-flash-fp16", SDPBackend.FLASH_ATTENTION, torch.float16),
        ("sdpa-cudnn-bf16", SDPBackend.CUDNN_ATTENTION, torch.bfloat16),
        ("sdpa-math-fp32", SDPBackend.MATH, torch.float32),
    ]
    warmup = int(config.get("warmup", 3))
    warmup_ms = float(config.get("warmupMs", 0))
    repeats = int(config.get("repeats", 10))
    math_max_bytes = int(config.get("mathMaxBytes", 8 << 30))
    accuracy_rows = int(config.get("accuracyRows", 128))
    shapes = config["shapes"]
    copy_bytes = config.get("copyBytes")
    total = len(shapes) * (len(peers) + (1 if copy_bytes is not None else 0))

    for index, shape in enumerate(shapes):
        b, h, hkv, sq, skv = shape["batch"], shape["heads"], shape["kvHeads"], shape["seqQ"], shape["seqKV"]
        if copy_bytes is not None:
            # Before the shape's fp32 inputs are allocated: the copy's buffers never sit beside them in device memory.
            progress(len(cells), total, f"copy-quant shape {index}")
            cell = {"peer": "copy-quant", "shapeIndex": index, "dtype": "uint8", "timer": "host" if env.on_cpu else "events"}
            cells.append(cell)
            try:
                env.reset_peak()
                src = torch.randint(0, 256, (max(1, int(copy_bytes[index]) // 2),), dtype=torch.uint8, device=env.device)
                dst = torch.empty_like(src)
                timing = env.measure(lambda: dst.copy_(src), warmup, repeats, warmup_ms)
                cell.update(status="ok", bytesMoved=2 * src.numel() * src.element_size(), **timing)
                env.peak(cell)
                del src, dst
            except Exception as err:
                cell.update(status="error", error=error_of(err))
            env.release()
        q32, k32, v32, mask_kwargs = env.inputs(shape, int(config.get("seed", 1)) + index)
        score = env.reference(shape, q32, k32, v32, accuracy_rows)

        for peer, backend, dtype in peers:
            progress(len(cells), total, f"{peer} shape {index}")
            cell = {"peer": peer, "shapeIndex": index, "dtype": str(dtype).replace("torch.", ""), "timer": "host" if env.on_cpu else "events"}
            cells.append(cell)
            score_bytes = b * h * sq * skv * 4
            if backend == SDPBackend.MATH and score_bytes > math_max_bytes:
                cell.update(status="skipped", error={"code": "ERR_PEER_MEMORY", "message": f"math would materialize {score_bytes / 2**30:.1f} GiB of scores (> mathMaxBytes)"})
                continue
            try:
                q, k, v = q32.to(dtype), k32.to(dtype), v32.to(dtype)
                kwargs = dict(mask_kwargs)
                if hkv != h:
                    kwargs["enable_gqa"] = True

                def call():
                    return F.scaled_dot_product_attention(q, k, v, **kwargs)

                env.reset_peak()
                with env.sdpa_kernel(backend):
                    out = call()
                    timing = env.measure(call, warmup, repeats, warmup_ms)
                cell.update(status="ok", accuracy=score(out), **timing)
                env.peak(cell)
                del out, q, k, v
            except Exception as err:
                cell.update(status="error", error=error_of(err))
            env.release()
        del q32, k32, v32, score
        env.release()
    progress(total, total, "done")


def run_decode_cache(env, config, cells):
    torch, SDPBackend, F = env.torch, env.SDPBackend, env.F
    peers = [
        ("sdpa-flash-fp16", SDPBackend.FLASH_ATTENTION, torch.float16),
        ("sdpa-flash-bf16", SDPBackend.FLASH_ATTENTION, torch.bfloat16),
        ("sdpa-cudnn-fp16", SDPBackend.CUDNN_ATTENTION, torch.float16),
        ("sdpa-cudnn-bf16", SDPBackend.CUDNN_ATTENTION, torch.bfloat16),
        ("copy-fp16", None, torch.float16),
    ]
    warmup = int(config.get("warmup", 3))
    warmup_ms = float(config.get("warmupMs", 0))
    repeats = int(config.get("repeats", 10))
    accuracy_rows = int(config.get("accuracyRows", 128))
    shapes = config["shapes"]
    total = len(shapes) * len(peers)

    for index, shape in enumerate(shapes):
        h, hkv = shape["heads"], shape["kvHeads"]
        q32, k32, v32, mask_kwargs = env.inputs(shape, int(config.get("seed", 1)) + index)
        score = env.reference(shape, q32, k32, v32, accuracy_rows)

        for peer, backend, dtype in peers:
            progress(len(cells), total, f"{peer} shape {index}")
            cell = {"peer": peer, "shapeIndex": index, "dtype": str(dtype).replace("torch.", ""), "timer": "host" if env.on_cpu else "events"}
            cells.append(cell)
            try:
                env.reset_peak()
                if backend is None:
                    # K and V of the cache in fp16, as one buffer: every byte read once and written once.
                    src = torch.cat([k32.flatten(), v32.flatten()]).to(dtype)
                    dst = torch.empty_like(src)
                    timing = env.measure(lambda: dst.copy_(src), warmup, repeats, warmup_ms)
                    cell.update(status="ok", bytesMoved=2 * src.numel() * src.element_size(), **timing)
                    env.peak(cell)
                    del src, dst
                else:
                    q, k, v = q32.to(dtype), k32.to(dtype), v32.to(dtype)
                    gqa, out = "none", None
                    with env.sdpa_kernel(backend):
                        gqa_error = None
                        if hkv != h:
                            try:
                                gqa = "enable_gqa"
                                out = F.scaled_dot_product_attention(q, k, v, enable_gqa=True, **mask_kwargs)
                            except Exception as err:  # the backend or this torch has no GQA: expand K/V to every query head
                                gqa, gqa_error = "repeat_interleave", err
                                k = k.repeat_interleave(h // hkv, dim=1)
                                v = v.repeat_interleave(h // hkv, dim=1)
                        extra = {"enable_gqa": True} if gqa == "enable_gqa" else {}

                        def call():
                            return F.scaled_dot_product_attention(q, k, v, **extra, **mask_kwargs)

                        if out is None:
                            try:
                                out = call()
                            except Exception as err:
                                if gqa_error is None:
                                    raise
                                raise RuntimeError(f"enable_gqa: {error_of(gqa_error)['message']}; repeat_interleave: {error_of(err)['message']}") from err
                        timing = env.measure(call, warmup, repeats, warmup_ms)
                    bytes_moved = (k.numel() * k.element_size()) + (v.numel() * v.element_size())
                    cell.update(status="ok", gqa=gqa, bytesMoved=bytes_moved, accuracy=score(out), **timing)
                    env.peak(cell)
                    del q, k, v, out
            except Exception as err:
                cell.update(status="error", error=error_of(err))
            env.release()
        del q32, k32, v32, score
        env.release()
    progress(total, total, "done")


def main():
    config = json.load(sys.stdin)
    mode = config.get("mode", "sweep")
    base = {"python": platform.python_version(), "cells": []}
    try:
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: F401  (a torch without them fails here, not mid-run)
    except Exception as err:  # ImportError, or a broken install raising anything at import time
        emit({**base, "status": "unavailable", "reason": f"torch not importable: {err}"})
        return
    base["torch"] = torch.__version__
    on_cpu = os.environ.get("QATTN_PEERS_DEVICE") == "cpu"
    if on_cpu:
        base["device"] = "cpu"
    elif not torch.cuda.is_available():
        emit({**base, "status": "unavailable", "reason": "torch.cuda.is_available() is False"})
        return
    else:
        base["cudaRuntime"] = torch.version.cuda
        base["device"] = torch.cuda.get_device_name(0)
        l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", None)
        if mode == "decode-cache" and isinstance(l2, int) and l2 > 0:
            base["l2CacheBytes"] = l2
    if mode not in ("sweep", "decode-cache"):
        emit({**base, "status": "unavailable", "reason": f"unknown mode {mode!r} (sweep or decode-cache)"})
        return
    env = Env(torch, on_cpu)
    (run_decode_cache if mode == "decode-cache" else run_sweep)(env, config, base["cells"])
    emit({**base, "status": "ok"})


if __name__ == "__main__":
    main()
