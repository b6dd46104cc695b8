"""PyTorch SDPA peers of qattn-bench: times torch's attention backends on the shapes of a qattn sweep.

Input (stdin, JSON): {"shapes": [{batch, heads, kvHeads, seqQ, seqKV, headDim, causal}], "warmup": int,
"repeats": int, "seed": int, "mathMaxBytes": int, "accuracyRows": int}.
Output (stdout, JSON): {"status": "ok" | "unavailable", "reason"?, "python", "torch"?, "cudaRuntime"?, "device"?,
"cells": [{"peer", "shapeIndex", "status", "medianMs", "minMs", "samplesMs", "peakDeviceBytes", "accuracy"?, "error"?}]}.
Progress goes to stderr as "progress <done> <total> <label>" lines.

Timing: CUDA events around each call after warm-up, median of the repeats; inputs are device-resident and created
outside the timed region. Causal masking is bottom-right aligned like qattn's: for seqQ == seqKV that is torch's
is_causal; for seqQ == 1 the mask is empty; otherwise torch.nn.attention.bias.causal_lower_right.
Accuracy: relative L2 and cosine of batch 0, the first heads and the last query rows against float64 torch math on
the same float32 inputs (normal data: torch.randn).
QATTN_PEERS_DEVICE=cpu smoke-tests this script on a machine without a GPU (math peer only, host clock); the
report then says device "cpu".
"""
import json
import os
import platform
import sys
import time


def emit(payload):
    sys.stdout.write(json.dumps(payload))
    sys.stdout.write("\n")
    sys.stdout.flush()


def progress(done, total, label):
    sys.stderr.write(f"progress {done} {total} {label}\n")
    sys.stderr.flush()


def main():
    config = json.load(sys.stdin)
    base = {"python": platform.python_version(), "cells": []}
    try:
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel
        import torch.nn.functional as F
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

    peers = [
        ("sdpa-flash-fp16", SDPBackend.FLASH_ATTENTION, torch.float16),
        ("sdpa-cudnn-bf16", SDPBackend.CUDNN_ATTENTION, torch.bfloat16),
        ("sdpa-math-fp32", SDPBackend.MATH, torch.float32),
    ]
    warmup = int(config.get("warmup", 3))
    repeats = int(config.get("repeats", 10))
    math_max_bytes = int(config.get("mathMaxBytes", 8 << 30))
    accuracy_rows = int(config.get("accuracyRows", 128))
    shapes = config["shapes"]
    total = len(shapes) * len(peers)
    cells = base["cells"]
    device = torch.device("cpu" if on_cpu else "cuda")

    def synchronize():
        if not on_cpu:
            torch.cuda.synchronize()

    def timed(call):
        """Milliseconds of one call: CUDA events on the GPU (host clock only for the CPU smoke test)."""
        if on_cpu:
            start = time.perf_counter()
            call()
            return lambda: (time.perf_counter() - start) * 1e3
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        call()
        end.record()
        return lambda: start.elapsed_time(end)  # read after the final synchronize

    for index, shape in enumerate(shapes):
        b, h, hkv = shape["batch"], shape["heads"], shape["kvHeads"]
        sq, skv, d, causal = shape["seqQ"], shape["seqKV"], shape["headDim"], bool(shape["causal"])
        gen = torch.Generator(device=device)
        gen.manual_seed(int(config.get("seed", 1)) + index)
        q32 = torch.randn(b, h, sq, d, device=device, generator=gen)
        k32 = torch.randn(b, hkv, skv, d, device=device, generator=gen)
        v32 = torch.randn(b, hkv, skv, d, device=device, generator=gen)
        mask, is_causal = None, False
        if causal and sq == skv:
            is_causal = True
        elif causal and sq > 1:
            from torch.nn.attention.bias import causal_lower_right
            mask = causal_lower_right(sq, skv)
        gqa = hkv != h

        # Float64 reference on a slice: batch 0, the first min(h, 2) heads, the last rows.
        rows = min(sq, accuracy_rows)
        ref_heads = min(h, 2)
        group = h // hkv
        kv_index = torch.arange(ref_heads, device=device) // group
        q_ref = q32[0:1, :ref_heads, sq - rows:].double()
        k_ref = k32[0:1, kv_index].double()
        v_ref = v32[0:1, kv_index].double()
        ref_mask = None
        if causal and rows > 1:
            offset = skv - sq + (sq - rows)
            ref_mask = torch.ones(rows, skv, dtype=torch.bool, device=device).tril(diagonal=offset)
        with sdpa_kernel(SDPBackend.MATH):
            expected = F.scaled_dot_product_attention(q_ref, k_ref, v_ref, attn_mask=ref_mask)
        del q_ref, k_ref, v_ref

        for peer, backend, dtype in peers:
            progress(len(cells), total, f"{peer} shape {index}")
            cell = {"peer": peer, "shapeIndex": index, "dtype": str(dtype).replace("torch.", ""), "timer": "host" if on_cpu else "events"}
            cells.append(cell)
            score_bytes = b * h * sq * skv * 4
            if backend == SDPBackend.MATH and score_bytes > math_max_bytes:
                cell.update(status="skipped", error={"code": "ERR_PEER_MEMORY", "message": f"math would materialize {score_bytes / 2**30:.1f} GiB of scores (> mathMaxBytes)"})
                continue
            try:
                q, k, v = q32.to(dtype), k32.to(dtype), v32.to(dtype)
                kwargs = {"attn_mask": mask, "is_causal": is_causal}
                if gqa:
                    kwargs["enable_gqa"] = True

                def call():
                    return F.scaled_dot_product_attention(q, k, v, **kwargs)

                synchronize()
                if not on_cpu:
                    torch.cuda.reset_peak_memory_stats()
                with sdpa_kernel(backend):
                    out = call()
                    for _ in range(warmup):
                        call()
                    readers = [timed(call) for _ in range(repeats)]
                    synchronize()
                samples = [read() for read in readers]
                ordered = sorted(samples)
                mid = len(ordered) // 2
                median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
                actual = out[0:1, :ref_heads, sq - rows:].double()
                diff = torch.linalg.vector_norm(actual - expected).item()
                norm = torch.linalg.vector_norm(expected).item()
                cos = torch.nn.functional.cosine_similarity(actual.flatten(), expected.flatten(), dim=0).item()
                cell.update(
                    status="ok",
                    medianMs=median,
                    minMs=ordered[0],
                    samplesMs=samples,
                    accuracy={"relL2": diff / norm if norm > 0 else 0.0, "cos": cos},
                )
                if not on_cpu:
                    cell["peakDeviceBytes"] = torch.cuda.max_memory_allocated()
                del out, q, k, v
            except Exception as err:
                cell.update(status="error", error={"code": type(err).__name__, "message": str(err).splitlines()[0] if str(err) else type(err).__name__})
            if not on_cpu:
                torch.cuda.empty_cache()
        del q32, k32, v32, expected
        if not on_cpu:
            torch.cuda.empty_cache()
    progress(total, total, "done")
    emit({**base, "status": "ok"})


if __name__ == "__main__":
    main()
