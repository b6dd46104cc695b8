"""PyTorch SDPA baselines for the flash-int8 README table: flash backend fp16 and cuDNN backend bf16, same shapes as
bench-cuda.ts (B=4, H=32, D in {128, 64}, N in {1K, 4K, 16K}, causal and not), CUDA events, median of repeats.
TOPS = 4*B*H*N^2*D / t, halved for causal. Usage: python3 sdpa_bench.py [out.jsonl]"""
import json
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def time_ms(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples)


def main():
    out = open(sys.argv[1], "a") if len(sys.argv) > 1 else None
    batch, heads = 4, 32
    device = torch.cuda.get_device_name()
    for head_dim in (128, 64):
        for seq in (1024, 4096, 16384):
            for causal in (False, True):
                for name, backend, dtype in (("sdpa-flash-fp16", SDPBackend.FLASH_ATTENTION, torch.float16),
                                             ("sdpa-cudnn-bf16", SDPBackend.CUDNN_ATTENTION, torch.bfloat16)):
                    q, k, v = (torch.randn(batch, heads, seq, head_dim, device="cuda", dtype=dtype) for _ in range(3))
                    repeats = 10 if seq >= 16384 else 30
                    try:
                        with sdpa_kernel(backend):
                            ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal), 3, repeats)
                    except RuntimeError as err:
                        print(json.dumps({"impl": name, "headDim": head_dim, "seq": seq, "causal": causal, "error": str(err)[:200]}))
                        continue
                    ops = 4 * batch * heads * seq * seq * head_dim / (2 if causal else 1)
                    row = {"impl": name, "headDim": head_dim, "seq": seq, "causal": causal, "batch": batch, "heads": heads,
                           "attnMs": ms, "topsKernel": ops / (ms * 1e-3) / 1e12, "device": device}
                    line = json.dumps(row)
                    print(line, flush=True)
                    if out:
                        out.write(line + "\n")
                    del q, k, v
    if out:
        out.close()


if __name__ == "__main__":
    main()
