"""The disk cache: a second process loads the compiled code instead of
compiling, damaged entries are compiled again, and the key follows the
text and options."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ssmc
from ssmc import _cache

HERE = os.path.dirname(os.path.abspath(__file__))

# Compiles a program in a fresh process and reports how, how long it took,
# and its largest error against the float64 reference.
CHILD = r"""
import json, os, sys, time
import numpy as np
if not os.environ.get("SSMC_TEST_NO_TORCH"):
    import torch
sys.path.insert(0, %(here)r)
import ssmc
from conftest import (SCAN, SCAN_DYNAMIC, scan_inputs, selective_scan_ref)
which, target = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
prog = ssmc.compile(SCAN if which == "static" else SCAN_DYNAMIC, target=target)
seconds = time.perf_counter() - t0
x = scan_inputs(np.random.default_rng(7), l=6 if which == "static" else 9)
x["delta"] = np.abs(x["delta"])  # positive steps: a bounded state
names = ["u", "delta", "A", "B", "C"] + (
    ["D", "z", "delta_bias"] if which == "static" else [])
y, h = prog.main(*[x[k] for k in names])
kw = dict(D=x["D"], z=x["z"], delta_bias=x["delta_bias"],
          delta_softplus=True) if which == "static" else {}
ry, rh = selective_scan_ref(x["u"], x["delta"], x["A"], x["B"], x["C"], **kw)
shape_error = ""
if which == "dynamic":
    try:
        prog.main(x["u"], x["delta"], x["A"], x["B"][:, :, :4], x["C"])
    except ValueError as e:
        shape_error = str(e)
print(json.dumps(dict(disk=prog.from_disk_cache, seconds=seconds,
                      err=max(float(abs(y - ry).max()), float(abs(h - rh).max())),
                      shape_error=shape_error)))
"""


def run_child(cache, which="static", target="cpu", extra_env=None):
    env = dict(os.environ)
    env["SSMC_CACHE_DIR"] = str(cache)
    env.pop("SSMC_NO_DISK_CACHE", None)
    env["SSMC_TEST_NO_TORCH"] = "1"
    env.update(extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(ssmc.__file__))] +
        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    out = subprocess.run([sys.executable, "-c", CHILD % dict(here=HERE),
                          which, target],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_from_disk(tmp_path):
    first = run_child(tmp_path)
    assert not first["disk"] and first["err"] < 1e-4
    files = [f for f in os.listdir(tmp_path) if f.endswith(_cache.SUFFIX)]
    assert len(files) == 1 and not any(f.startswith(".tmp") for f in os.listdir(tmp_path))
    second = run_child(tmp_path)
    assert second["disk"] and second["err"] == first["err"]
    # Loading is much cheaper than compiling.
    assert second["seconds"] < first["seconds"]
    print("compile %.3fs, disk-cache load %.3fs" % (first["seconds"], second["seconds"]))


def test_dynamic_shapes_and_their_checks_survive_the_disk(tmp_path):
    first = run_child(tmp_path, "dynamic")
    second = run_child(tmp_path, "dynamic")
    assert not first["disk"] and second["disk"]
    assert second["err"] == first["err"] and first["err"] < 1e-4
    assert "shape mismatch" in first["shape_error"]
    assert second["shape_error"] == first["shape_error"]


def test_gpu_emulator_program_from_disk(tmp_path):
    # With PyTorch (and its libgomp) loaded first, as in a PyTorch program.
    first = run_child(tmp_path, target="gpu-emulator")
    second = run_child(tmp_path, target="gpu-emulator",
                       extra_env={"SSMC_TEST_NO_TORCH": ""})
    assert not first["disk"] and second["disk"]
    assert second["err"] == first["err"] and first["err"] < 1e-4


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_entries_are_compiled_again(tmp_path, damage):
    run_child(tmp_path)
    [name] = [f for f in os.listdir(tmp_path) if f.endswith(_cache.SUFFIX)]
    path = tmp_path / name
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    again = run_child(tmp_path)
    assert not again["disk"] and again["err"] < 1e-4
    # ... and the entry was replaced by a good one.
    assert run_child(tmp_path)["disk"]


def test_load_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.ssmco"
    bad.write_bytes(b"SSMCJIT\n" + b"\0" * 40)
    with pytest.raises(ssmc.CompileError, match="checksum"):
        ssmc._ssmc.load(str(bad), "bad", "cpu", 0, 3)
    bad.write_bytes(b"")
    with pytest.raises(ssmc.CompileError, match="not a saved ssmc program"):
        ssmc._ssmc.load(str(bad), "bad", "cpu", 0, 3)
    bad.write_bytes(b"\x7fELF" + bytes(range(256)) * 8)
    with pytest.raises(ssmc.CompileError, match="not a saved ssmc program"):
        ssmc._ssmc.load(str(bad), "bad", "cpu", 0, 3)
    bad.write_bytes(b"not a program")
    with pytest.raises(ssmc.CompileError, match="not a saved ssmc program"):
        ssmc._ssmc.load(str(bad), "bad", "cpu", 0, 3)
    with pytest.raises(ssmc.CompileError, match="cannot read"):
        ssmc._ssmc.load(str(tmp_path / "missing"), "x", "cpu", 0, 3)


def test_save_needs_keep_object_and_target_must_match(tmp_path):
    from conftest import AXPY
    plain = ssmc._ssmc.compile(AXPY, "axpy", "cpu", 0, 3)
    with pytest.raises(ssmc.CompileError, match="keepObject"):
        plain.save(str(tmp_path / "x.ssmco"))
    kept = ssmc._ssmc.compile(AXPY, "axpy", "cpu", 0, 3, keep_object=True)
    kept.save(str(tmp_path / "x.ssmco"))
    with pytest.raises(ssmc.CompileError, match="another target"):
        ssmc._ssmc.load(str(tmp_path / "x.ssmco"), "x", "gpu-emulator", 0, 3)
    loaded = ssmc._ssmc.load(str(tmp_path / "x.ssmco"), "x", "cpu", 0, 3)
    assert loaded.from_disk_cache and loaded.entries == ["axpy"]
    r = loaded.entry("axpy")(np.ones(4, np.float32), 3.0, np.ones(4, np.float32))
    np.testing.assert_array_equal(r, [4, 4, 4, 4])


def test_keys_follow_text_and_options():
    from conftest import AXPY
    k = _cache.key(AXPY, "cpu", 0, 3)
    assert k == _cache.key(AXPY, "cpu", 0, 3)
    others = {_cache.key(AXPY + " ", "cpu", 0, 3), _cache.key(AXPY, "gpu-emulator", 0, 3),
              _cache.key(AXPY, "cpu", 2, 3), _cache.key(AXPY, "cpu", 0, 2)}
    assert k not in others and len(others) == 4


def test_cache_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("SSMC_NO_DISK_CACHE", raising=False)
    monkeypatch.setenv("SSMC_CACHE_DIR", str(tmp_path / "c"))
    assert ssmc.cache_dir() == str(tmp_path / "c")
    monkeypatch.delenv("SSMC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ssmc.cache_dir() == str(tmp_path / "xdg" / "ssmc")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ssmc.cache_dir() == str(tmp_path / "home" / ".cache" / "ssmc")
    monkeypatch.setenv("SSMC_NO_DISK_CACHE", "1")
    assert ssmc.cache_dir() is None


def test_no_disk_cache_writes_nothing(tmp_path):
    run_child(tmp_path, extra_env={"SSMC_NO_DISK_CACHE": "1"})
    assert os.listdir(tmp_path) == []
    assert not run_child(tmp_path, extra_env={"SSMC_NO_DISK_CACHE": "1"})["disk"]


def test_unwritable_cache_still_compiles(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = run_child(blocker / "cache")
    assert not r["disk"] and r["err"] < 1e-4


def test_loaded_program_from_many_threads(tmp_path, monkeypatch):
    import threading
    from conftest import SCAN, scan_inputs, selective_scan_ref
    monkeypatch.setenv("SSMC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SSMC_NO_DISK_CACHE", raising=False)
    ssmc.compile(SCAN, opt_level=1)          # stored
    ssmc.clear_cache()
    prog = ssmc.compile(SCAN, opt_level=1)   # loaded
    assert prog.from_disk_cache
    x = scan_inputs(np.random.default_rng(3))
    ry, _ = selective_scan_ref(x["u"], x["delta"], x["A"], x["B"], x["C"], D=x["D"],
                               z=x["z"], delta_bias=x["delta_bias"], delta_softplus=True)
    errors = []

    def work():
        try:
            for _ in range(20):
                y, _ = prog.main(**x)
                assert float(abs(y - ry).max()) < 1e-4
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
