"""ssmc.compile and calls of compiled entries on NumPy arrays and PyTorch
tensors, checked against NumPy float64 references; every kind of bad
input raises, none crashes."""

import threading

import numpy as np
import pytest

import ssmc
from conftest import (AXPY, LINEAR_ATTENTION, SCAN, SCAN_DYNAMIC, SCAN_LOW,
                      f32_tol, linear_attention_ref, requires_torch,
                      scan_inputs, selective_scan_ref, torch)

ORDER = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]


def scan_ref(x):
    return selective_scan_ref(x["u"], x["delta"], x["A"], x["B"], x["C"],
                              D=x["D"], z=x["z"], delta_bias=x["delta_bias"],
                              delta_softplus=True)


def assert_close(got, ref):
    got = np.asarray(got, np.float64)
    assert got.shape == ref.shape
    err = float(np.max(np.abs(got - ref)))
    assert err <= f32_tol(ref), "max error %g > %g" % (err, f32_tol(ref))


# --- compile -----------------------------------------------------------------

def test_version_and_entries(scan_program):
    assert isinstance(ssmc.version, str) and ssmc.version
    assert scan_program.entries == ["main"]
    assert scan_program.target == "cpu"
    info = scan_program.main.info
    assert info["name"] == "main"
    assert info["arg_names"] == ORDER
    assert info["inputs"][0] == ("f32", (2, 8, 6))
    assert info["results"] == [("f32", (2, 8, 6)), ("f32", (2, 8, 4))]
    assert scan_program["main"].info == info
    assert "main" in repr(scan_program.main)


def test_compile_from_path(tmp_path, rng):
    path = tmp_path / "axpy.mlir"
    path.write_text(AXPY)
    for source in (path, str(path)):
        prog = ssmc.compile(source, cache=False)
        assert prog.entries == ["axpy"]
        r = prog.axpy(np.arange(4, dtype=np.float32), 3.0,
                      np.ones(4, np.float32))
        np.testing.assert_array_equal(r, [1, 4, 7, 10])


def test_compile_errors_carry_the_diagnostics(tmp_path):
    with pytest.raises(ssmc.CompileError) as e:
        ssmc.compile("func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
                     "  return %y : tensor<4xf32>\n}\n", cache=False)
    assert isinstance(e.value, ValueError)
    assert "invalid program" in str(e.value)
    assert "%y" in str(e.value)  # the parser's message
    with pytest.raises(ValueError, match="target"):
        ssmc.compile(AXPY, target="tpu")
    with pytest.raises(ValueError, match="opt_level"):
        ssmc.compile(AXPY, opt_level=4)
    with pytest.raises(ValueError, match="threads"):
        ssmc.compile(AXPY, threads=-1)
    with pytest.raises(ValueError, match="cannot read"):
        ssmc.compile(str(tmp_path / "missing.mlir"))
    with pytest.raises(ValueError, match="source"):
        ssmc.compile(42)


def test_memory_cache_compiles_once():
    a = ssmc.compile(AXPY, opt_level=2)
    b = ssmc.compile(AXPY, opt_level=2)
    assert a._native is b._native
    c = ssmc.compile(AXPY, opt_level=1)
    assert c._native is not a._native


# --- calls on NumPy ----------------------------------------------------------

def test_selective_scan_positional(scan_program, rng):
    x = scan_inputs(rng)
    y, h = scan_program.main(*[x[k] for k in ORDER])
    ref_y, ref_h = scan_ref(x)
    assert y.dtype == np.float32 and h.dtype == np.float32
    assert_close(y, ref_y)
    assert_close(h, ref_h)


def test_selective_scan_by_name_in_any_order(scan_program, rng):
    x = scan_inputs(rng)
    ref_y, ref_h = scan_ref(x)
    y, h = scan_program.main(**{k: x[k] for k in reversed(ORDER)})
    assert_close(y, ref_y)
    assert_close(h, ref_h)
    # Positional first, the rest by name.
    y2, _ = scan_program.main(x["u"], x["delta"], **{k: x[k] for k in ORDER[2:]})
    np.testing.assert_array_equal(y, y2)


def test_results_own_their_buffers(scan_program, rng):
    x = scan_inputs(rng)
    y, h = scan_program.main(**x)
    assert y.flags.c_contiguous and y.flags.writeable
    assert not y.flags.owndata and y.base is not None  # the code's buffer
    keep = y.copy()
    del h
    y2, _ = scan_program.main(**x)  # a second call does not reuse y's buffer
    np.testing.assert_array_equal(y, keep)
    assert y2.ctypes.data != y.ctypes.data


def test_out_destination_passing(scan_program, rng):
    x = scan_inputs(rng)
    ref_y, ref_h = scan_ref(x)
    y = np.full((2, 8, 6), np.nan, np.float32)
    h = np.full((2, 8, 4), np.nan, np.float32)
    r = scan_program.main(**x, out=(y, h))
    assert r[0] is y and r[1] is h
    assert_close(y, ref_y)
    assert_close(h, ref_h)
    # A strided destination: a view into a larger array.
    big = np.zeros((2, 8, 12), np.float32)
    scan_program.main(**x, out=[big[:, :, ::2], h])
    assert_close(big[:, :, ::2], ref_y)
    assert np.all(big[:, :, 1::2] == 0)


def test_out_errors(scan_program, rng):
    x = scan_inputs(rng)
    h = np.zeros((2, 8, 4), np.float32)
    with pytest.raises(ValueError, match="returns 2 results"):
        scan_program.main(**x, out=h)
    with pytest.raises(ValueError, match=r"output #0.*shape"):
        scan_program.main(**x, out=(np.zeros((2, 8, 5), np.float32), h))
    with pytest.raises(ValueError, match=r"output #0.*dtype"):
        scan_program.main(**x, out=(np.zeros((2, 8, 6)), h))
    ro = np.zeros((2, 8, 6), np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        scan_program.main(**x, out=(ro, h))
    with pytest.raises(ValueError, match="NumPy array"):
        scan_program.main(**x, out=([0.0] * 96, h))


def test_strided_inputs(scan_program, rng):
    x = scan_inputs(rng)
    ref_y, ref_h = scan_ref(x)
    # Non-contiguous views of the same values: a transposed copy viewed
    # back, and every other element of a larger array.
    strided = dict(x)
    strided["u"] = np.ascontiguousarray(x["u"].transpose(2, 1, 0)).transpose(2, 1, 0)
    big = np.zeros((2, 8, 12), np.float32)
    big[:, :, ::2] = x["delta"]
    strided["delta"] = big[:, :, ::2]
    strided["A"] = np.asfortranarray(x["A"])
    strided["D"] = np.repeat(x["D"], 3)[::3]
    assert not strided["u"].flags.c_contiguous
    assert not strided["delta"].flags.c_contiguous
    y, h = scan_program.main(**strided)
    assert_close(y, ref_y)
    assert_close(h, ref_h)
    # Reversed (negative strides).
    rev = dict(x)
    rev["D"] = x["D"][::-1].copy()[::-1]
    y2, _ = scan_program.main(**rev)
    assert_close(y2, ref_y)


def test_nested_lists_are_converted(axpy_program):
    r = axpy_program.axpy([1, 2, 3, 4], 2, [0.5, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(r, [2.5, 4.5, 6.5, 8.5])


def test_scalars(axpy_program):
    x = np.arange(4, dtype=np.float32)
    y = np.ones(4, np.float32)
    for s in (2.0, 2, np.float32(2.0), np.float64(2.0), np.array(2.0, np.float32)):
        np.testing.assert_array_equal(axpy_program.axpy(x, s, y), [1, 3, 5, 7])
    np.testing.assert_array_equal(axpy_program.axpy(x=x, y=y, scale=-1.5),
                                  [1, -0.5, -2, -3.5])
    with pytest.raises(ValueError, match="scale.*float scalar, got a bool"):
        axpy_program.axpy(x, True, y)
    with pytest.raises(ValueError, match="scale"):
        axpy_program.axpy(x, "2", y)
    with pytest.raises(ValueError, match="input #1 of 'axpy'.*rank-0"):
        axpy_program.axpy(x, np.ones(2, np.float32), y)


def test_dynamic_shapes(rng):
    prog = ssmc.compile(SCAN_DYNAMIC)
    assert not prog.main.info["destination_passing"]
    assert prog.main.info["inputs"][0] == ("f32", (None, 8, None))
    for b, l in ((1, 3), (3, 17)):
        x = scan_inputs(rng, b=b, l=l)
        x["delta"] = np.abs(x["delta"])  # no softplus: keep the steps positive
        y, h = prog.main(x["u"], x["delta"], x["A"], x["B"], x["C"])
        ref_y, ref_h = selective_scan_ref(x["u"], x["delta"], x["A"], x["B"], x["C"])
        assert y.shape == (b, 8, l) and h.shape == (b, 8, 4)
        assert_close(y, ref_y)
        assert_close(h, ref_h)
        yo = np.zeros((b, 8, l), np.float32)
        ho = np.zeros((b, 8, 4), np.float32)
        prog.main(x["u"], x["delta"], x["A"], x["B"], x["C"], out=(yo, ho))
        np.testing.assert_array_equal(yo, y)
    # Sizes that disagree at run time.
    x = scan_inputs(rng, b=2, l=5)
    with pytest.raises(ValueError, match="shape mismatch"):
        prog.main(x["u"], x["delta"], x["A"], x["B"][:, :, :4], x["C"])


def test_linear_attention(rng):
    prog = ssmc.compile(LINEAR_ATTENTION)
    q = rng.standard_normal((2, 3, 10, 4)).astype(np.float32)
    k = rng.standard_normal((2, 3, 10, 4)).astype(np.float32)
    v = rng.standard_normal((2, 3, 10, 5)).astype(np.float32)
    g = (-np.abs(rng.standard_normal((2, 3, 10))) * 0.3).astype(np.float32)
    o, S = prog.attend(q, k, v, g)
    ref_o, ref_S = linear_attention_ref(q, k, v, g)
    assert_close(o, ref_o)
    assert_close(S, ref_S)


# --- bad inputs --------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda x: x.update(u=x["u"][0]), r"input #0 of 'main'.*rank 3"),                 # rank
    (lambda x: x.update(u=x["u"].astype(np.float64)), r"input #0 .*dtype f32, got f64"),
    (lambda x: x.update(B=x["B"][:, :3]), r"input #3 .*shape"),              # sizes
    (lambda x: x.update(A=x["A"].astype(np.int32)), r"input #2 .*dtype f32, got i32"),
    (lambda x: x.update(u=x["u"].astype(np.uint8)), r"'u'.*NumPy dtype uint8"),
    (lambda x: x.update(u=x["u"].astype(np.complex64)), r"'u'.*NumPy dtype complex64"),
    (lambda x: x.update(u=None), r"'u'"),
    (lambda x: x.update(u="text"), r"'u'"),
    (lambda x: x.update(u=object()), r"'u'"),
    (lambda x: x.update(bogus=x["u"]), r"no argument named 'bogus'"),
    (lambda x: x.pop("z"), r"missing input for argument 'z'"),
])
def test_bad_inputs_raise(scan_program, rng, change, message):
    x = scan_inputs(rng)
    change(x)
    with pytest.raises(ValueError, match=message) as e:
        scan_program.main(**x)
    assert isinstance(e.value, ssmc.ArgumentError)


def test_bad_argument_counts(scan_program, rng):
    x = scan_inputs(rng)
    args = [x[k] for k in ORDER]
    with pytest.raises(ValueError, match="takes only 8 arguments"):
        scan_program.main(*args, x["u"])
    with pytest.raises(ValueError, match="given twice"):
        scan_program.main(*args, u=x["u"])
    with pytest.raises(ValueError, match="missing input"):
        scan_program.main()
    with pytest.raises(AttributeError, match="no public function named 'nope'"):
        scan_program.nope
    with pytest.raises(KeyError):
        scan_program["nope"]


def test_nan_inputs_give_nan_not_a_crash(scan_program, rng):
    x = scan_inputs(rng)
    x["u"][0, 3, 2] = np.nan
    y, h = scan_program.main(**x)
    assert np.isnan(y[0, 3, 2:]).all()           # the channel from that step on
    assert np.isfinite(y[1]).all()               # the other batch untouched
    assert np.isnan(h[0, 3]).all() and np.isfinite(h[0, 2]).all()


def test_check_finite_rejects_nan_and_infinity(rng):
    prog = ssmc.compile(SCAN, check_finite=True)
    assert prog.check_finite and not ssmc.compile(SCAN).check_finite
    x = scan_inputs(rng)
    ref_y, _ = scan_ref(x)
    assert_close(prog.main(**x)[0], ref_y)          # finite inputs run
    for name, index, value in (("u", (0, 3, 2), np.nan), ("A", (7, 1), -np.inf),
                               ("delta_bias", (5,), np.inf)):
        bad = dict(x)
        bad[name] = x[name].copy()
        bad[name][index] = value
        with pytest.raises(ssmc.ArgumentError,
                           match=r"argument '%s' of 'main' .* has a NaN or infinity at \[%s\]"
                           % (name, ", ".join(map(str, index)))):
            prog.main(**bad)
    # A strided view: the index is the view's.
    big = np.zeros((2, 8, 12), np.float32)
    big[:, :, ::2] = x["z"]
    big[1, 2, 6] = np.nan
    with pytest.raises(ValueError, match=r"'z'.*at \[1, 2, 3\]"):
        prog.main(**dict(x, z=big[:, :, ::2]))


def test_inputs_are_not_written(scan_program, rng):
    x = scan_inputs(rng)
    before = {k: v.copy() for k, v in x.items()}
    scan_program.main(**x)
    for k in x:
        np.testing.assert_array_equal(x[k], before[k])


# --- threads -----------------------------------------------------------------

def test_calls_from_many_threads(scan_program):
    cases = []
    for seed in range(8):
        x = scan_inputs(np.random.default_rng(seed))
        cases.append((x, scan_ref(x)))
    errors = []

    def work(i):
        try:
            x, (ref_y, ref_h) = cases[i % len(cases)]
            for _ in range(30):
                y, h = scan_program.main(**x)
                assert_close(y, ref_y)
                assert_close(h, ref_h)
        except Exception as e:  # reported on the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_compiles_from_many_threads():
    # Distinct programs compiled concurrently, and one compiled by all.
    progs = [None] * 6
    errors = []

    def work(i):
        try:
            progs[i] = ssmc.compile(AXPY, opt_level=i % 2, cache=i >= 2)
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    for p in progs:
        np.testing.assert_array_equal(
            p.axpy(np.ones(4, np.float32), 2.0, np.ones(4, np.float32)), [3] * 4)


def test_time_reports_the_compiled_code(scan_program, rng):
    x = scan_inputs(rng)
    t = scan_program.main.time(**x, repeat=5)
    assert 0 < t < 1.0


# --- PyTorch -----------------------------------------------------------------

@requires_torch
def test_torch_tensors_in_and_out(scan_program, rng):
    x = scan_inputs(rng)
    ref_y, ref_h = scan_ref(x)
    t = {k: torch.from_numpy(v) for k, v in x.items()}
    t["u"].requires_grad_(True)  # exported detached
    y, h = scan_program.main(**t)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    assert_close(y.numpy(), ref_y)
    assert_close(h.numpy(), ref_h)
    # A non-contiguous tensor.
    t2 = dict(t)
    t2["u"] = torch.from_numpy(np.ascontiguousarray(x["u"].transpose(2, 1, 0))).permute(2, 1, 0)
    assert not t2["u"].is_contiguous()
    y2, _ = scan_program.main(**t2)
    assert_close(y2.numpy(), ref_y)
    # out= tensors.
    yo = torch.empty(2, 8, 6)
    ho = torch.empty(2, 8, 4)
    r = scan_program.main(**t, out=(yo, ho))
    assert r[0] is yo
    assert_close(yo.numpy(), ref_y)
    # Wrong dtype.
    t3 = dict(t)
    t3["u"] = t["u"].detach().double()
    with pytest.raises(ValueError, match="dtype f32, got f64"):
        scan_program.main(**t3)
    # Results outlive the program object and the inputs.
    del t, t2, t3
    assert_close(y.numpy(), ref_y)


@requires_torch
@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_half_precision_through_torch(rng, dtype):
    prog = ssmc.compile(SCAN_LOW.replace("xT>", "x%s>" % dtype))
    tdtype = torch.float16 if dtype == "f16" else torch.bfloat16
    x = scan_inputs(rng, b=1, l=12)
    low = {k: torch.from_numpy(x[k]).to(tdtype) for k in ("u", "delta", "B", "C")}
    y, h = prog.main(low["u"], low["delta"], torch.from_numpy(x["A"]),
                     low["B"], low["C"], torch.from_numpy(x["D"]))
    assert y.dtype == tdtype and h.dtype == torch.float32
    # The reference reads the same rounded inputs.
    r = {k: v.float().numpy() for k, v in low.items()}
    ref_y, ref_h = selective_scan_ref(r["u"], r["delta"], x["A"], r["B"], r["C"],
                                      D=x["D"], delta_softplus=True)
    # The plain loop rounding only its output to 16 bits: the bound is 2x
    # that error, and never above 1e-2 relative (DESIGN.md).
    plain = torch.from_numpy(ref_y).to(tdtype).double().numpy()
    plain_err = float(np.max(np.abs(plain - ref_y)))
    scale = max(1.0, float(np.max(np.abs(ref_y))))
    err = float(np.max(np.abs(y.double().numpy() - ref_y)))
    assert err <= min(2 * plain_err + 1e-6 * scale, 1e-2 * scale), (err, plain_err)
    assert_close(h.numpy(), ref_h) if dtype == "f16" else None
    assert float(np.max(np.abs(h.numpy() - ref_h))) <= 1e-2 * max(1, np.abs(ref_h).max())
    # NumPy float16 works without torch; bf16 has no NumPy dtype.
    if dtype == "f16":
        y16, _ = prog.main(r["u"].astype(np.float16), r["delta"].astype(np.float16),
                           x["A"], r["B"].astype(np.float16), r["C"].astype(np.float16),
                           x["D"])
        assert y16.dtype == np.float16
        np.testing.assert_array_equal(y16, y.numpy())


# --- the package -------------------------------------------------------------

def test_submodules_load_lazily():
    import sys
    assert "ops" in dir(ssmc)
    with pytest.raises(AttributeError):
        ssmc.no_such_thing
    # Importing ssmc alone does not import its optional modules.
    for name in ("ssmc.ops", "ssmc.models", "ssmc.tasks"):
        if name not in sys.modules:
            assert name.split(".")[1] not in vars(ssmc)


def test_gpu_emulator_target(rng):
    # The emulated kernels' OpenMP queries must reach the runtime that runs
    # them even with PyTorch's libgomp loaded (conftest imports torch).
    prog = ssmc.compile(SCAN, target="gpu-emulator")
    assert prog.target == "gpu-emulator"
    x = scan_inputs(rng)
    ref_y, ref_h = scan_ref(x)
    for _ in range(3):
        y, h = prog.main(**x)
        assert_close(y, ref_y)
        assert_close(h, ref_h)
