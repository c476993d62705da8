"""Language models compiled by ssmc (apps/lm): load a .safetensors
checkpoint (mamba_ssm / HuggingFace names; Mamba-1, Mamba-2 or a Llama-style
Transformer, read off the tensor shapes) and generate tokens.

    import ssmc.models
    model = ssmc.models.load("mamba-130m.safetensors")
    for token in model.generate([50, 1212, 318], max_new_tokens=20):
        print(token)

Tokens are integer ids; tokenising text is left to the caller's tokenizer.
"""

import importlib.machinery
import importlib.util
import sys

import numpy as np


def _load_apps():
    """The extension module ssmc._apps, whose PyInit__apps is in the binary
    of ssmc._ssmc (one copy of the compiler per process; python/apps.cmake)."""
    name = __package__ + "._apps"
    mod = sys.modules.get(name)
    if mod is None:
        from . import _ssmc
        loader = importlib.machinery.ExtensionFileLoader(name, _ssmc.__file__)
        mod = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
        loader.exec_module(mod)
        sys.modules[name] = mod
    return mod


_apps = _load_apps()

__all__ = ["Model", "load", "random_model", "write_random_checkpoint", "CONFIGS"]

#: The configurations `random_model` knows (docs/models.md).
CONFIGS = ("mamba-130m", "mamba2-130m", "transformer-130m", "gdn-130m", "tiny", "tiny2",
           "tiny-transformer", "tiny-gdn")


def _token_list(ids):
    """ids as a list of ints: a list, a 1-D (or [1, L]) array or tensor."""
    if hasattr(ids, "detach"):
        ids = ids.detach().cpu().numpy()
    arr = np.asarray(ids)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise ValueError(f"ids: expected a sequence of token ids, got shape {list(arr.shape)}")
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"ids: expected integer token ids, got {arr.dtype}")
    return [int(t) for t in arr]


class Model:
    """A compiled model with its weights and its decoding state (one
    sequence at a time: each generate or prefill starts a new one)."""

    def __init__(self, native):
        self._native = native

    @property
    def config(self):
        """The sizes read off the checkpoint (a dict: arch, vocab, d_model, ...)."""
        return self._native.config

    @property
    def vocab_size(self):
        return self.config["vocab"]

    @property
    def state_bytes(self):
        """Bytes of the decoding state (the KV cache for a Transformer)."""
        return self._native.state_bytes

    @property
    def position(self):
        """Tokens processed since the last prefill."""
        return self._native.position

    def forward(self, ids):
        """Logits at every position, a float32 array [L, vocab]."""
        return self._native.forward(_token_list(ids))

    def prefill(self, ids):
        """Runs the prompt; returns the logits after its last token [vocab]."""
        return self._native.prefill(_token_list(ids))

    def decode(self, token):
        """Feeds one token after prefill; returns the next logits [vocab]."""
        return self._native.decode(int(token))

    def generate(self, ids, max_new_tokens=32, temperature=0.0, top_k=0, seed=1,
                 eos_token_id=None):
        """An iterator over up to max_new_tokens new token ids: greedy with
        temperature 0, else sampled (among the top_k most likely when
        top_k > 0) with `seed`. Stops after eos_token_id when given."""
        prompt = _token_list(ids)
        if not prompt:
            raise ValueError("generate needs at least one prompt token")
        if int(max_new_tokens) < 0:
            raise ValueError("max_new_tokens must be >= 0")
        if temperature < 0 or top_k < 0:
            raise ValueError("temperature and top_k must be >= 0")
        return self._generate(prompt, int(max_new_tokens), float(temperature), int(top_k),
                              int(seed), eos_token_id)

    def _generate(self, prompt, n, temperature, top_k, seed, eos):
        if n == 0:
            return
        native = self._native
        native.start_sampling(temperature, top_k, seed)
        logits = native.prefill(prompt)
        for i in range(n):
            token = native.sample(logits)
            yield token
            if (eos is not None and token == eos) or i + 1 == n:
                return
            logits = native.decode(token)

    def generate_all(self, ids, max_new_tokens=32, temperature=0.0, top_k=0, seed=1):
        """The new tokens as a list, generated in one C++ call (no Python
        between tokens)."""
        return self._native.generate(_token_list(ids), int(max_new_tokens), float(temperature),
                                     int(top_k), int(seed))


def load(path, threads=0, opt_level=3, weights="f32"):
    """Reads a .safetensors checkpoint (and the config.json next to it, when
    present) and compiles its model. `weights` is how the projections are
    held: "f32", "bf16" or "int8" (one scale per row), converted on load.
    ValueError when the file is missing, its tensors do not make a known
    model, or `weights` is none of these."""
    return Model(_apps.Model.load(str(path), int(threads), int(opt_level), str(weights)))


def random_model(name="tiny", seed=1, threads=0, weights="f32"):
    """A model of a named configuration (CONFIGS) with random weights,
    initialised as mamba_ssm initialises a fresh model; `weights` as for
    load."""
    return Model(_apps.Model.random(name, int(seed), int(threads), str(weights)))


def write_random_checkpoint(name, path, seed=1):
    """Writes random weights of a named configuration as a .safetensors
    checkpoint, with its config.json."""
    _apps.Model.write_random(name, int(seed), str(path))
