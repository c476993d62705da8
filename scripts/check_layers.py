#!/usr/bin/env python3
"""Checks ssmc's include rules: which layer may include which.

Every tracked C/C++ file belongs to one layer (by path, table LAYERS); each
of its #include lines is resolved to a file of the repository (relative to
the including file, then to each include root) or left as an external
header. A project header of a layer not in the includer's ALLOWED set, or an
external header family the layer must not use (FORBIDDEN_EXTERNAL: e.g. the
runtime and the applications use no MLIR), is a violation. The rules are
the ones docs/architecture.md draws; this script is their enforcement.

  scripts/check_layers.py              check the tree; exit 1 on a violation
  scripts/check_layers.py --graph      also print the layer graph actually used
  scripts/check_layers.py --root DIR   check another checkout (a git work tree)
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (layer, path regex), first match wins.
LAYERS = [
    ("runtime", r"^runtime/|^include/ssmc/(Tensor|TensorIO|Cuda|Distributed)\.h$"),
    ("dialect", r"^dialects/"),
    ("emit-utils", r"^lib/Conversion/Utils/"),
    ("gpu-ir", r"^lib/GPU/IR/"),
    ("ssm-to-loops", r"^lib/Conversion/SSMToLoops/|^include/ssmc/Conversion/SSMToLoops\.h$"),
    ("ssm-to-gpu", r"^lib/Conversion/SSMToGPU/|^include/ssmc/Conversion/SSMToGPU\.h$"),
    ("conversion-passes", r"^include/ssmc/Conversion/"),
    ("gpu-transforms", r"^lib/GPU/Transforms/|^include/ssmc/GPU/"),
    ("transforms", r"^lib/Transforms/|^include/ssmc/Transforms/"),
    ("pipelines", r"^lib/Pipelines/|^include/ssmc/Pipelines\.h$"),
    ("passes", r"^include/ssmc/Passes\.h$"),
    ("api", r"^lib/(Jit|InitAll)/|^include/ssmc/"),
    ("apps", r"^apps/"),
    ("tools", r"^tools/"),
    ("python", r"^python/"),
    ("test", r"^test/|^fuzz/"),
    ("bench", r"^bench/"),
    ("examples", r"^examples/"),
]

# Who may include whom (a layer may always include itself).
ALLOWED = {
    "runtime": set(),
    "dialect": set(),
    "emit-utils": {"dialect", "gpu-ir"},
    "gpu-ir": set(),
    "conversion-passes": set(),
    "ssm-to-loops": {"dialect", "emit-utils", "conversion-passes", "transforms"},
    "ssm-to-gpu": {"dialect", "emit-utils", "gpu-ir", "conversion-passes"},
    "gpu-transforms": {"dialect", "gpu-ir"},
    "transforms": {"dialect", "emit-utils"},
    "pipelines": {"dialect", "ssm-to-loops", "ssm-to-gpu", "gpu-transforms",
                  "transforms", "conversion-passes", "passes"},
    "passes": {"dialect", "conversion-passes", "transforms", "gpu-transforms"},
    "api": {"runtime", "dialect", "pipelines", "passes", "transforms",
            "conversion-passes", "gpu-ir", "gpu-transforms", "ssm-to-loops",
            "ssm-to-gpu"},
    # Applications reach the compiler only through the public API.
    "apps": {"runtime", "api"},
    "tools": {"runtime", "api", "apps", "passes", "pipelines"},
    # The Python extensions bind the public API and the applications.
    "python": {"runtime", "api", "apps"},
    # The API example checks its result against the test oracle.
    "examples": {"runtime", "api", "test"},
    "bench": {"runtime", "api", "test"},
    "test": None,  # anything
}

# External header families a layer must not include.
FORBIDDEN_EXTERNAL = {
    "runtime": [r"^mlir/"],
    "apps": [r"^mlir/"],
    "python": [r"^mlir/"],
    "examples": [r"^mlir/"],
}
# Files allowed to break FORBIDDEN_EXTERNAL, each with its reason.
EXCEPTIONS = {}

INCLUDE_ROOTS = ["", "include", "dialects/ssm/include"]
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def layer_of(path):
    for name, rx in LAYERS:
        if re.search(rx, path):
            return name
    return None


def tracked_sources():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    return [f for f in out if f.endswith((".h", ".cpp", ".c", ".hpp"))]


def resolve(includer, header, files):
    candidates = [os.path.normpath(os.path.join(os.path.dirname(includer), header))]
    candidates += [os.path.normpath(os.path.join(r, header)) for r in INCLUDE_ROOTS]
    for c in candidates:
        if c in files:
            return c
    return None


def main():
    global ROOT
    graph = "--graph" in sys.argv
    if "--root" in sys.argv:
        ROOT = os.path.abspath(sys.argv[sys.argv.index("--root") + 1])
    files = set(tracked_sources())
    violations, edges = [], set()
    for f in sorted(files):
        src_layer = layer_of(f)
        if src_layer is None:
            violations.append(f"{f}: belongs to no layer (add it to LAYERS)")
            continue
        text = open(os.path.join(ROOT, f), encoding="utf-8", errors="replace").read()
        for m in INCLUDE_RE.finditer(text):
            header = m.group(2)
            line = text.count("\n", 0, m.start()) + 1
            if header.endswith(".inc"):
                continue
            target = resolve(f, header, files)
            if target is None:
                for rx in FORBIDDEN_EXTERNAL.get(src_layer, []):
                    if re.search(rx, header) and f not in EXCEPTIONS:
                        violations.append(f"{f}:{line}: layer '{src_layer}' must not include <{header}>")
                continue
            dst_layer = layer_of(target)
            if dst_layer == src_layer:
                continue
            edges.add((src_layer, dst_layer))
            allowed = ALLOWED.get(src_layer)
            if allowed is not None and dst_layer not in allowed:
                violations.append(f"{f}:{line}: layer '{src_layer}' must not include "
                                  f"'{header}' (layer '{dst_layer}')")
    if graph:
        for a, b in sorted(edges):
            print(f"{a} -> {b}")
    for v in violations:
        print(v)
    print(f"check_layers: {len(files)} files, {len(violations)} violations")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
