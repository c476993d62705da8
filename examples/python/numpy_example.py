"""Compile a Mamba-1 selective scan with ssmc and run it on NumPy arrays.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/numpy_example.py

Checks the result against a float64 NumPy loop and prints the largest
error, then calls again into preallocated arrays (out=).
"""

import numpy as np

import ssmc

BATCH, CHANNELS, STATE, LENGTH = 2, 16, 8, 64

PROGRAM = f"""
func.func @mixer(%u: tensor<{BATCH}x{CHANNELS}x{LENGTH}xf32> {{ssm.name = "u"}},
                 %delta: tensor<{BATCH}x{CHANNELS}x{LENGTH}xf32> {{ssm.name = "delta"}},
                 %A: tensor<{CHANNELS}x{STATE}xf32> {{ssm.name = "A"}},
                 %B: tensor<{BATCH}x{STATE}x{LENGTH}xf32> {{ssm.name = "B"}},
                 %C: tensor<{BATCH}x{STATE}x{LENGTH}xf32> {{ssm.name = "C"}},
                 %D: tensor<{CHANNELS}xf32> {{ssm.name = "D"}})
    -> (tensor<{BATCH}x{CHANNELS}x{LENGTH}xf32>, tensor<{BATCH}x{CHANNELS}x{STATE}xf32>) {{
  %y, %h = ssm.selective_scan %u, %delta, %A, %B, %C D(%D) delta_softplus
      : (tensor<{BATCH}x{CHANNELS}x{LENGTH}xf32>, tensor<{BATCH}x{CHANNELS}x{LENGTH}xf32>,
         tensor<{CHANNELS}x{STATE}xf32>, tensor<{BATCH}x{STATE}x{LENGTH}xf32>,
         tensor<{BATCH}x{STATE}x{LENGTH}xf32>, tensor<{CHANNELS}xf32>)
      -> (tensor<{BATCH}x{CHANNELS}x{LENGTH}xf32>, tensor<{BATCH}x{CHANNELS}x{STATE}xf32>)
  return %y, %h : tensor<{BATCH}x{CHANNELS}x{LENGTH}xf32>, tensor<{BATCH}x{CHANNELS}x{STATE}xf32>
}}
"""


def reference(u, delta, A, B, C, D):
    """The same recurrence in float64, vectorised over batch and channels."""
    u, delta, A, B, C, D = (x.astype(np.float64) for x in (u, delta, A, B, C, D))
    dt = np.log1p(np.exp(delta))                      # softplus
    h = np.zeros((u.shape[0], u.shape[1], A.shape[1]))
    y = np.zeros_like(u)
    for t in range(u.shape[2]):
        h = np.exp(dt[:, :, t, None] * A) * h + \
            dt[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        y[:, :, t] = np.einsum("bdn,bn->bd", h, C[:, :, t]) + D * u[:, :, t]
    return y, h


def main():
    rng = np.random.default_rng(0)
    u = rng.standard_normal((BATCH, CHANNELS, LENGTH), dtype=np.float32)
    delta = rng.standard_normal((BATCH, CHANNELS, LENGTH), dtype=np.float32)
    A = -np.exp(rng.standard_normal((CHANNELS, STATE))).astype(np.float32)
    B = rng.standard_normal((BATCH, STATE, LENGTH), dtype=np.float32)
    C = rng.standard_normal((BATCH, STATE, LENGTH), dtype=np.float32)
    D = rng.standard_normal(CHANNELS, dtype=np.float32)

    program = ssmc.compile(PROGRAM, threads=2)   # cached in memory and on disk
    print(program, "(loaded from the disk cache)" if program.from_disk_cache else "")
    print(program.mixer)

    y, h = program.mixer(u, delta, A, B, C, D)   # positional ...
    y2, _ = program.mixer(u=u, delta=delta, A=A, B=B, C=C, D=D)  # ... or by name
    ref_y, ref_h = reference(u, delta, A, B, C, D)
    err = max(np.abs(y - ref_y).max(), np.abs(h - ref_h).max())
    scale = max(1.0, np.abs(ref_y).max())
    print(f"max error vs float64: {err:.3g} (tolerance {1e-4 * scale:.3g})")
    assert err <= 1e-4 * scale and np.array_equal(y, y2)

    out = (np.empty_like(y), np.empty_like(h))   # destination passing
    program.mixer(u, delta, A, B, C, D, out=out)
    assert np.array_equal(out[0], y)

    try:
        program.mixer(u[:, :, :-1], delta, A, B, C, D)
    except ValueError as e:                      # ssmc.ArgumentError
        print("a wrong shape is an error:", e)
    print("OK")


if __name__ == "__main__":
    main()
