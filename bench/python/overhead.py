"""What a Python call of a compiled entry costs, and that inputs are not
copied.

    PYTHONPATH=build/python /usr/bin/python3 bench/python/overhead.py [--calls N]

1. Call overhead on a cache hit at small shapes: the time of a Python call
   (argument conversion, GIL release, result arrays) minus the time of the
   compiled code measured in C++ around ssmc::Jit::invoke (Entry.time).
   Target: under 20 us.
2. No copy of large inputs: in a fresh process per size, the peak resident
   set (VmHWM, reset through /proc/self/clear_refs) grows by no more than
   the compiled code's own buffers when a call reads inputs of 16 MiB to
   256 MiB (results written into out= arrays allocated before).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import ssmc

SMALL = """
func.func @main(%u: tensor<1x4x8xf32> {ssm.name = "u"},
                %dt: tensor<1x4x8xf32> {ssm.name = "delta"},
                %A: tensor<4x4xf32> {ssm.name = "A"},
                %B: tensor<1x4x8xf32> {ssm.name = "B"},
                %C: tensor<1x4x8xf32> {ssm.name = "C"})
    -> (tensor<1x4x8xf32>, tensor<1x4x4xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C delta_softplus
      : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x4xf32>, tensor<1x4x8xf32>,
         tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x4xf32>)
  return %y, %h : tensor<1x4x8xf32>, tensor<1x4x4xf32>
}
"""

# Static shapes (a program per length L): the code writes its results
# straight into the out= arrays, so a call allocates nothing of size L.
LARGE = """
func.func @main(%u: tensor<1x16xLxf32>, %dt: tensor<1x16xLxf32>, %A: tensor<16x16xf32>,
                %B: tensor<1x16xLxf32>, %C: tensor<1x16xLxf32>)
    -> (tensor<1x16xLxf32>, tensor<1x16x16xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C delta_softplus
      : (tensor<1x16xLxf32>, tensor<1x16xLxf32>, tensor<16x16xf32>, tensor<1x16xLxf32>,
         tensor<1x16xLxf32>) -> (tensor<1x16xLxf32>, tensor<1x16x16xf32>)
  return %y, %h : tensor<1x16xLxf32>, tensor<1x16x16xf32>
}
"""


def best_of(fn, calls, rounds=5):
    """The fastest mean time per call over `rounds` runs of `calls` calls."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def overhead(calls):
    rng = np.random.default_rng(0)
    prog = ssmc.compile(SMALL, threads=1)
    hit = best_of(lambda: ssmc.compile(SMALL, threads=1), 1000)  # a call site's cache hit
    u, dt, B, C = (rng.standard_normal((1, 4, 8), dtype=np.float32) for _ in range(4))
    A = -np.ones((4, 4), np.float32)
    y = np.empty((1, 4, 8), np.float32)
    h = np.empty((1, 4, 4), np.float32)
    main = prog.main
    args = (u, dt, A, B, C)
    code = min(main.time(*args, repeat=calls) for _ in range(5))
    py = best_of(lambda: main(*args), calls)
    py_out = best_of(lambda: main(*args, out=(y, h)), calls)
    py_kw = best_of(lambda: main(u=u, delta=dt, A=A, B=B, C=C), calls)
    rows = {
        "compiled code (C++ timing)": code,
        "Python call, new results": py,
        "Python call, out=": py_out,
        "Python call, by name": py_kw,
    }
    try:
        import torch
        tt = [torch.from_numpy(a) for a in args]
        rows["Python call, torch tensors"] = best_of(lambda: main(*tt), calls)
    except ImportError:
        pass
    print("== call overhead at small shapes (1x4x8 selective scan), %d calls, best of 5"
          % calls)
    for name, t in rows.items():
        extra = "" if name.startswith("compiled") else "  overhead %6.2f us" % (1e6 * (t - code))
        print("  %-30s %8.2f us%s" % (name, 1e6 * t, extra))
    print("  ssmc.compile on a memory-cache hit: %.2f us" % (1e6 * hit))
    worst = max(t - code for name, t in rows.items() if name.startswith("Python"))
    print("  worst overhead %.2f us: %s the 20 us target" % (
        1e6 * worst, "within" if worst < 20e-6 else "ABOVE"))
    return worst


CHILD = r"""
import json, sys
import numpy as np, ssmc
sys.path.insert(0, %(dir)r)
from overhead import LARGE
L = int(sys.argv[1])
prog = ssmc.compile(LARGE.replace("xLx", "x" + str(L) + "x"), threads=1)
rng = np.random.default_rng(0)
ins = [rng.standard_normal((1, 16, L), dtype=np.float32) for _ in range(2)]
A = -np.ones((16, 16), np.float32)
ins += [rng.standard_normal((1, 16, L), dtype=np.float32) for _ in range(2)]
y = np.ones((1, 16, L), np.float32)      # allocated and touched before
h = np.ones((1, 16, 16), np.float32)
prog.main(ins[0], ins[1], A, ins[2], ins[3], out=(y, h))   # warm up

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

with open("/proc/self/clear_refs", "w") as f:  # the peak restarts at the current RSS
    f.write("5")
before = status("VmRSS")
for _ in range(3):
    prog.main(ins[0], ins[1], A, ins[2], ins[3], out=(y, h))
after = status("VmHWM")
print(json.dumps(dict(L=L, input_bytes=sum(a.nbytes for a in ins),
                      growth_bytes=after - before,
                      code_heap_bytes=prog.last_call_peak_heap_bytes,
                      finite=bool(np.isfinite(y).all()))))
"""


def no_copy(sizes):
    print("== peak RSS growth of a call on large inputs (results into out=)")
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(ssmc.__file__)), env.get("PYTHONPATH", "")])
    results = []
    for L in sizes:
        out = subprocess.run([sys.executable, "-c", CHILD % dict(dir=here), str(L)],
                             env=env, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print("  L=%8d  inputs %7.1f MiB  peak RSS growth %7.2f MiB  "
              "(the code's own heap %6.2f MiB)  finite=%s" % (
                  L, r["input_bytes"] / 2**20, r["growth_bytes"] / 2**20,
                  r["code_heap_bytes"] / 2**20, r["finite"]))
    grows = results[-1]["growth_bytes"] - results[0]["growth_bytes"]
    extra_in = results[-1]["input_bytes"] - results[0]["input_bytes"]
    print("  inputs grew by %.0f MiB, the peak by %.2f MiB: %s" % (
        extra_in / 2**20, grows / 2**20,
        "no copy" if grows < 0.05 * extra_in else "COPIED"))
    return grows, extra_in


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=20000)
    p.add_argument("--sizes", default="65536,262144,1048576",
                   help="sequence lengths of the no-copy check (16 channels)")
    a = p.parse_args()
    print("ssmc", ssmc.version)
    overhead(a.calls)
    no_copy([int(s) for s in a.sizes.split(",")])


if __name__ == "__main__":
    main()
