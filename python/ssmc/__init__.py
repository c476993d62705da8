"""ssmc: compile selective-scan, attention and DP programs and call them.

    import numpy as np, ssmc
    prog = ssmc.compile(open("scan.mlir").read())     # or a path
    y = prog.main(u, delta, A, B, C)                    # NumPy in, NumPy out
    y = prog.main(u=u, delta=delta, A=A, B=B, C=C)      # by ssm.name
    prog.main(u, delta, A, B, C, out=y)                 # destination passing

Inputs are NumPy arrays (no copy when contiguous and of the declared
dtype; strided views are accepted), objects with ``__dlpack__`` (PyTorch
tensors: results come back as PyTorch tensors) and Python scalars.
Results own the compiled code's buffers. See docs/python.md.
"""

import os as _os
import threading as _threading

from . import _ssmc
from ._ssmc import ArgumentError, CompileError, Error, RunError, Entry
from . import _cache

__all__ = [
    "compile", "Program", "Entry", "Error", "ArgumentError", "CompileError",
    "RunError", "cache_dir", "clear_cache", "version",
]

#: The compiler's version; part of every disk-cache key.
version = _ssmc.version

TARGETS = ("cpu", "cuda", "gpu-emulator")


def cache_dir():
    """Where compiled programs are kept between processes: $SSMC_CACHE_DIR,
    else $XDG_CACHE_HOME/ssmc, else ~/.cache/ssmc. None when
    SSMC_NO_DISK_CACHE=1."""
    return _cache.cache_dir()


class Program:
    """A compiled program. Its public functions are callable entries:
    ``prog.main(...)`` or ``prog["main"](...)``."""

    def __init__(self, native, source_name=None):
        self._native = native
        self._entries = {}
        self.source_name = source_name

    @property
    def entries(self):
        """Names of the program's public functions."""
        return list(self._native.entries)

    @property
    def target(self):
        return self._native.target

    @property
    def check_finite(self):
        """Whether calls reject float inputs holding NaN or infinity."""
        return self._native.check_finite

    @property
    def from_disk_cache(self):
        """Whether the code was loaded from the disk cache (not compiled)."""
        return self._native.from_disk_cache

    @property
    def last_call_peak_heap_bytes(self):
        """Peak heap bytes the compiled code held during the last call of
        any entry (its own buffers, not the arrays passed in)."""
        return self._native.last_call_peak_heap_bytes

    def __getitem__(self, name):
        entry = self._entries.get(name)
        if entry is None:
            entry = self._native.entry(name)  # KeyError naming the entries
            self._entries[name] = entry
        return entry

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(e.args[0] if e.args else name) from None

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.entries))

    def __repr__(self):
        return "<ssmc.Program %s on %s: %s>" % (
            self.source_name or "<source>", self.target,
            ", ".join(self.entries))


_memory_cache = {}
_memory_lock = _threading.Lock()
_compile_locks = {}


def _read_source(source):
    """(text, name) of MLIR text or a path to a .mlir file."""
    if isinstance(source, _os.PathLike) or (
            isinstance(source, str) and "\n" not in source
            and source.endswith(".mlir")):
        path = _os.fspath(source)
        try:
            with open(path, encoding="utf-8") as f:
                return f.read(), path
        except OSError as e:
            raise CompileError("%s: cannot read: %s" % (path, e.strerror)) from None
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    if not isinstance(source, str):
        raise CompileError("source must be MLIR text or a path to a .mlir "
                           "file, got %s" % type(source).__name__)
    return source, "<source>"


def compile(source, target="cpu", threads=0, opt_level=3, cache=True,
            check_finite=False):
    """Compiles an ssm program (MLIR text, or a path to a .mlir file) for
    `target` ("cpu", "cuda" or "gpu-emulator") with `threads` OpenMP
    threads (0: the runtime chooses) at LLVM `opt_level` 0-3.

    With `check_finite`, calls raise ArgumentError for a float input that
    holds NaN or infinity (one pass over each input) instead of running.

    With `cache`, a compile is done once per (text, options) in a process,
    and its code is kept on disk (see cache_dir()) so that another process
    loads it instead of compiling. Raises CompileError (a ValueError) with
    the compiler's diagnostics for a program it rejects.
    """
    text, name = _read_source(source)
    if target not in TARGETS:
        raise CompileError("target must be one of %s, got %r" % (
            ", ".join(repr(t) for t in TARGETS), target))
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise CompileError("threads must be an int >= 0, got %r" % (threads,))
    if isinstance(opt_level, bool) or not isinstance(opt_level, int) or \
            not 0 <= opt_level <= 3:
        raise CompileError("opt_level must be an int 0-3, got %r" % (opt_level,))
    check_finite = bool(check_finite)
    if not cache:
        native = _ssmc.compile(text, name, target, threads, opt_level)
        native.check_finite = check_finite
        return Program(native, name)

    key = (text, target, threads, opt_level, check_finite)
    with _memory_lock:
        native = _memory_cache.get(key)
        if native is not None:
            return Program(native, name)
        lock = _compile_locks.setdefault(key, _threading.Lock())
    # One compile per key; other keys compile concurrently.
    with lock:
        with _memory_lock:
            native = _memory_cache.get(key)
        if native is None:
            native = _cache.compile_cached(text, name, target, threads,
                                           opt_level)
            native.check_finite = check_finite
            with _memory_lock:
                _memory_cache[key] = native
    with _memory_lock:
        _compile_locks.pop(key, None)
    return Program(native, name)


def clear_cache(disk=False):
    """Forgets the programs compiled in this process, and with `disk` the
    disk cache's entries too."""
    with _memory_lock:
        _memory_cache.clear()
    if disk:
        _cache.clear()


_SUBMODULES = ("ops", "models", "tasks")


def __getattr__(name):
    # ssmc.ops, ssmc.models and ssmc.tasks load on first use.
    if name in _SUBMODULES:
        import importlib
        module = importlib.import_module("." + name, __name__)
        globals()[name] = module
        return module
    raise AttributeError("module 'ssmc' has no attribute %r" % name)


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
