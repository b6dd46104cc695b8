"""Static SASS counts of the attention and decode kernels in qattn's CUDA addons: per kernel, the instructions in all
(total), the MMA opcodes (IMMA, HMMA, and Hopper's GMMA) and the local-memory loads/stores that betray register spills
(LDL, STL).

Usage: python3 sass_counts.py [--arch sm_90a] addon.node [addon.node ...]   (needs cuobjdump on PATH or in
$CUDA_HOME/bin). Prints one line per kernel whose name contains "attn" or "decode": "<addon> <kernel> total=n OPCODE=count ...".
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys


def cuobjdump():
    found = shutil.which("cuobjdump")
    if found:
        return found
    candidate = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "cuobjdump")
    return candidate if os.path.exists(candidate) else None


def counts(sass):
    per_kernel = collections.OrderedDict()
    name = None
    for line in sass.splitlines():
        match = re.search(r"Function : (\S+)", line)
        if match:
            name = match.group(1)
            per_kernel[name] = collections.Counter()
            continue
        if name and re.match(r"\s*/\*[0-9a-f]{4,}\*/\s+\S", line):
            per_kernel[name]["total"] += 1
        match = re.search(r"\b((?:IMMA|HMMA|HGMMA|IGMMA|QGMMA|LDL|STL)\S*)\s", line)
        if name and match:
            per_kernel[name][match.group(1)] += 1
    return per_kernel


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="sm_90a")
    parser.add_argument("addons", nargs="+")
    args = parser.parse_args()
    tool = cuobjdump()
    if tool is None:
        print("cuobjdump not found (PATH, $CUDA_HOME/bin): no SASS counts", file=sys.stderr)
        return 0
    status = 0
    for addon in args.addons:
        result = subprocess.run([tool, "-sass", "-arch", args.arch, addon], capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{os.path.basename(addon)}: cuobjdump failed: {result.stderr.strip()}", file=sys.stderr)
            status = 1
            continue
        for kernel, opcodes in counts(result.stdout).items():
            if "attn" in kernel or "decode" in kernel:
                total = opcodes.pop("total", 0)
                print(os.path.basename(addon), kernel, f"total={total}", " ".join(f"{k}={v}" for k, v in sorted(opcodes.items())))
    return status


if __name__ == "__main__":
    sys.exit(main())
