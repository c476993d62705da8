"""Writes the inputs of packed.mlir as .npy files (no NumPy needed): the
sequence operands of selective_scan, ssd, linear_attention and
causal_conv1d (L = 11, batch 1), per-sequence initial states for S = 4 and S = 2, and the two
offset arrays."""
import random
import struct
import sys


def save(path, dtype, shape, values):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        dtype, "".join("%d, " % d for d in shape) if len(shape) != 1 else "%d," % shape[0])
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), {"<f4": "f", "<i8": "q", "<i4": "i"}[dtype]), *values))


def main(out):
    rng = random.Random(7)

    def rand(shape, lo=-1.0, hi=1.0):
        n = 1
        for d in shape:
            n *= d
        save("%s/%s.npy" % (out, name), "<f4", shape, [rng.uniform(lo, hi) for _ in range(n)])

    for name, shape, lo, hi in [
            ("u", [1, 3, 11], -1, 1), ("delta", [1, 3, 11], -1, 1), ("A", [3, 2], -1.5, -0.2),
            ("B", [1, 2, 11], -1, 1), ("C", [1, 2, 11], -1, 1), ("bias", [3], -0.5, 0.5),
            ("x", [1, 11, 2, 2], -1, 1), ("dt", [1, 11, 2], -1, 1), ("Ah", [2], -1.5, -0.2),
            ("Bs", [1, 11, 1, 3], -1, 1), ("Cs", [1, 11, 1, 3], -1, 1),
            ("q", [1, 2, 11, 2], -1, 1), ("k", [1, 2, 11, 2], -1, 1), ("v", [1, 2, 11, 3], -1, 1),
            ("g", [1, 2, 11], -0.7, -0.05),
            ("h4", [4, 3, 2], -1, 1), ("s4", [4, 2, 2, 3], -1, 1), ("l4", [4, 2, 2, 3], -1, 1),
            ("h2", [2, 3, 2], -1, 1), ("s2", [2, 2, 2, 3], -1, 1), ("l2", [2, 2, 2, 3], -1, 1),
            ("w", [3, 3], -1, 1), ("c4", [4, 3, 2], -1, 1), ("c2", [2, 3, 2], -1, 1)]:
        rand(shape, lo, hi)
    # S = 4: on 3 ranks (steps 0-3, 4-7, 8-10) sequence 0 crosses from
    # rank 0 to 1, 1 is empty, 2 lies inside rank 1, 3 crosses from 1 to 2;
    # on 2 ranks (0-5, 6-10) sequence 0 is rank 0's, 2 and 3 rank 1's.
    save(out + "/cu4.npy", "<i8", [5], [0, 6, 6, 7, 11])
    # S = 2 < R = 3: sequence 1 spans all three ranks (i32 offsets).
    save(out + "/cu2.npy", "<i4", [3], [0, 1, 11])


if __name__ == "__main__":
    main(sys.argv[1])
