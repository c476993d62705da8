"""ssmc.models on the tiny random models of the C++ tests (test/unit
ModelTest): generation by prefill + decode matches the logits of a full
forward pass, the iterator matches the C++ generate loop, and a checkpoint
file loads into the same model."""

import numpy as np
import pytest

import ssmc.models as models

PROMPT = [5, 17, 200, 3, 42]


@pytest.fixture(scope="module",
                params=["tiny", "tiny2", "tiny-transformer", "tiny-gdn"])
def model(request):
    return models.random_model(request.param, seed=4)


def test_config(model):
    c = model.config
    assert c["vocab"] == 256 and c["d_model"] == 64 and c["n_layer"] == 2
    assert model.state_bytes > 0


def test_greedy_generation_follows_forward_argmax(model):
    """Each greedy token is the argmax of forward()'s logits over the prompt
    and the tokens so far: decode continues prefill's state exactly."""
    new = list(model.generate(PROMPT, max_new_tokens=6))
    assert len(new) == 6
    seq = list(PROMPT)
    for token in new:
        logits = model.forward(seq)
        assert logits.shape == (len(seq), 256) and logits.dtype == np.float32
        assert token == int(np.argmax(logits[-1]))
        seq.append(token)


def test_prefill_and_decode_logits_match_forward(model):
    full = model.forward(PROMPT + [9])
    last = model.prefill(PROMPT)
    scale = max(1.0, float(np.max(np.abs(full))))
    assert np.max(np.abs(last - full[len(PROMPT) - 1])) <= 1e-4 * scale
    assert model.position == len(PROMPT)
    nxt = model.decode(9)
    assert np.max(np.abs(nxt - full[-1])) <= 1e-4 * scale


def test_iterator_matches_cpp_generate(model):
    for kw in ({}, dict(temperature=0.8, top_k=20, seed=7)):
        assert list(model.generate(PROMPT, 5, **kw)) == model.generate_all(PROMPT, 5, **kw)


def test_sampling_is_seeded(model):
    a = list(model.generate(PROMPT, 8, temperature=1.0, seed=3))
    b = list(model.generate(np.array(PROMPT), 8, temperature=1.0, seed=3))
    assert a == b and all(0 <= t < 256 for t in a)


def test_eos_stops_and_zero_tokens(model):
    first = next(iter(model.generate(PROMPT, 4)))
    assert list(model.generate(PROMPT, 4, eos_token_id=first)) == [first]
    assert list(model.generate(PROMPT, 0)) == []


def test_checkpoint_round_trip(tmp_path):
    path = tmp_path / "tiny2.safetensors"
    models.write_random_checkpoint("tiny2", path, seed=4)
    loaded = models.load(path)
    same = models.random_model("tiny2", seed=4)
    assert loaded.config == same.config
    assert list(loaded.generate(PROMPT, 4)) == list(same.generate(PROMPT, 4))


@pytest.mark.parametrize("call", [
    lambda m: m.forward([0, 256]),
    lambda m: m.forward([-1]),
    lambda m: list(m.generate([], 3)),
    lambda m: list(m.generate([[1, 2], [3, 4]], 3)),
    lambda m: list(m.generate([1.5], 3)),
    lambda m: list(m.generate([1], -1)),
    lambda m: list(m.generate([1], 2, temperature=-1.0)),
])
def test_bad_arguments_raise(model, call):
    with pytest.raises(ValueError):
        call(model)


def test_missing_checkpoint_raises(tmp_path):
    with pytest.raises(ValueError):
        models.load(tmp_path / "absent.safetensors")
    with pytest.raises(ValueError):
        models.random_model("no-such-model")


def test_generate_example_runs():
    """examples/python/generate.py prints the tokens the iterator gives."""
    import os
    import subprocess
    import sys
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    r = subprocess.run([sys.executable, os.path.join(root, "examples", "python", "generate.py"),
                        "--random", "tiny", "--seed", "4", "--prompt", *map(str, PROMPT), "--tokens", "5"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    printed = [int(t) for t in r.stdout.splitlines()[1].split()]
    assert printed == list(models.random_model("tiny", seed=4).generate(PROMPT, 5))


def test_ops_then_models_in_one_process():
    """ssmc.ops (ssmc._ssmc) and ssmc.models (ssmc._apps) compile in one
    process: the two share one copy of the compiler's registrations."""
    import subprocess
    import sys
    code = ("import numpy as np\n"
            "from ssmc import ops\n"
            "x = np.ones((1, 3, 5), np.float32)\n"
            "ops.causal_conv1d_fn(x, np.ones((3, 2), np.float32))\n"
            "import ssmc.models, ssmc.tasks\n"
            "m = ssmc.models.random_model('tiny')\n"
            "print(len(list(m.generate([1, 2], 3))))\n"
            "ops.causal_conv1d_fn(x, np.ones((3, 3), np.float32))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip() == "3", r.stderr[-2000:]


@pytest.fixture(scope="module")
def tiny_f32_logits():
    return models.random_model("tiny", seed=4).forward(PROMPT + [9])


@pytest.mark.parametrize("weights", ["bf16", "int8"])
def test_low_precision_weights_track_f32(weights, tiny_f32_logits):
    """Projections held as bf16 or int8 (one scale per row): the logits stay
    within the precision's bound of the f32 model's (bf16: 16 * 2^-9, int8:
    16 * 2^-8 of the largest logit), differ from them (the weights were
    converted), and decode continues prefill as with f32 weights."""
    low = models.random_model("tiny", seed=4, weights=weights)
    want = tiny_f32_logits
    got = low.forward(PROMPT + [9])
    err = np.abs(got - want).max() / np.abs(want).max()
    bound = 16 * 2.0 ** (-9 if weights == "bf16" else -8)
    assert 0 < err < bound
    last = low.prefill(PROMPT)
    step = low.decode(9)
    assert np.abs(last - got[-2]).max() < bound * np.abs(want).max()
    assert np.abs(step - got[-1]).max() < bound * np.abs(want).max()


def test_unknown_weights_raise():
    with pytest.raises(ValueError, match="f32, bf16 or int8"):
        models.random_model("tiny", weights="q3")
