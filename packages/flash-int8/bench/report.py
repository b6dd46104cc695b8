"""Merges bench-cuda.mjs and sdpa_bench.py JSON lines (same run) into the README's markdown table.
Usage: python3 report.py results.jsonl"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
by = {(r["impl"], r["headDim"], r["seq"], r["causal"]): r for r in rows if "error" not in r}
print("| hd | N | causal | INT8 kernel TOPS | INT8 + quant TOPS | quant ms (GB/s) | quant / attn | SDPA flash fp16 | cuDNN bf16 | INT8 / flash | INT8 / cuDNN |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for hd in (128, 64):
    for seq in (1024, 4096, 16384):
        for causal in (False, True):
            r = by.get(("qattn-int8", hd, seq, causal))
            fl = by.get(("sdpa-flash-fp16", hd, seq, causal))
            cu = by.get(("sdpa-cudnn-bf16", hd, seq, causal))
            if not r:
                continue
            f = lambda x: f"{x:.0f}" if x is not None else "n/a"
            flash = fl["topsKernel"] if fl else None
            cudnn = cu["topsKernel"] if cu else None
            print(f"| {hd} | {seq // 1024}K | {'yes' if causal else 'no'} | {r['topsKernel']:.0f} | {r['topsWithQuant']:.0f} | "
                  f"{r['quantMs']:.3f} ({r['quantGBps']:.0f}) | {100 * r['quantOverhead']:.1f}% | {f(flash)} | {f(cudnn)} | "
                  f"{r['topsKernel'] / flash:.2f}x | {r['topsKernel'] / cudnn:.2f}x |" if flash and cudnn else
                  f"| {hd} | {seq // 1024}K | {'yes' if causal else 'no'} | {r['topsKernel']:.0f} | {r['topsWithQuant']:.0f} | "
                  f"{r['quantMs']:.3f} | {100 * r['quantOverhead']:.1f}% | {f(flash)} | {f(cudnn)} | n/a | n/a |")
for r in rows:
    if r.get("impl", "").startswith("qattn-int8-"):
        print(f"\n{r['impl']} hd{r['headDim']} N={r['seq']} causal={r['causal']}: {r['topsKernel']:.0f} TOPS kernel, {r['topsWithQuant']:.0f} with quantization")

# Before/after: a previous build's addon timed in the same run (bench-cuda.mjs with QATTN_BENCH_PREFIX=before).
if any(r.get("impl", "").startswith("before-") for r in rows):
    print("\n| hd | N | causal | before (previous build, defaults) | after, defaults | after / before | after / flash | after / cuDNN |")
    print("|---|---|---|---|---|---|---|---|")
    for hd in (128, 64):
        for seq in (4096, 16384):
            for causal in (False, True):
                b64 = by.get(("before-int8-blockN64", hd, seq, causal))
                a = by.get(("qattn-int8", hd, seq, causal))
                fl = by.get(("sdpa-flash-fp16", hd, seq, causal))
                cu = by.get(("sdpa-cudnn-bf16", hd, seq, causal))
                if not (b64 and a and fl and cu):
                    continue
                print(f"| {hd} | {seq // 1024}K | {'yes' if causal else 'no'} | {b64['topsKernel']:.0f} ({b64['topsKernel'] / fl['topsKernel']:.2f}x flash) | "
                      f"{a['topsKernel']:.0f} | {a['topsKernel'] / b64['topsKernel']:.3f}x | "
                      f"{a['topsKernel'] / fl['topsKernel']:.2f}x | {a['topsKernel'] / cu['topsKernel']:.2f}x |")
