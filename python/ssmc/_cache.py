"""The disk cache of compiled programs.

An entry is one file, <cache_dir>/<key>.ssmco, holding the program's object
code and the description of its entries (written by the extension's
Program.save). The key is a SHA-256 of the program text, the compile
options, the compiler version, the extension build and the host CPU (the
code uses its features), so a changed compiler or machine never loads
stale code. Files are written to a temporary name and renamed into place
(readers never see half an entry); an entry that does not load (truncated,
corrupt, from another build) is compiled again and replaced.
"""

import hashlib
import os
import tempfile

from . import _ssmc

SUFFIX = ".ssmco"


def cache_dir():
    if os.environ.get("SSMC_NO_DISK_CACHE", "") not in ("", "0"):
        return None
    d = os.environ.get("SSMC_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ssmc")


def _build_stamp():
    """Identifies the extension binary: a rebuilt compiler has another."""
    try:
        st = os.stat(_ssmc.__file__)
        return "%d:%d" % (st.st_size, st.st_mtime_ns)
    except OSError:
        return "?"


_STAMP = None


def key(text, target, threads, opt_level):
    global _STAMP
    if _STAMP is None:
        _STAMP = "\0".join([_ssmc.version, _build_stamp(), _ssmc.host_cpu()])
    h = hashlib.sha256()
    for part in (_STAMP, target, str(threads), str(opt_level), text):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _disk_cacheable(target):
    # CUDA programs load their kernels in global constructors, which the
    # object loader does not run: those are compiled each process.
    return target != "cuda" and _ssmc.can_save_objects


def compile_cached(text, name, target, threads, opt_level):
    """The native program for `text`: loaded from the disk cache when an
    entry for it loads, else compiled (and stored)."""
    d = cache_dir()
    if d is None or not _disk_cacheable(target):
        return _ssmc.compile(text, name, target, threads, opt_level)
    path = os.path.join(d, key(text, target, threads, opt_level) + SUFFIX)
    if os.path.exists(path):
        try:
            return _ssmc.load(path, name, target, threads, opt_level)
        except _ssmc.Error:
            pass  # corrupt or foreign: compiled again below, and replaced
    native = _ssmc.compile(text, name, target, threads, opt_level,
                           keep_object=True)
    try:
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=d)
        os.close(fd)
        try:
            native.save(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except (OSError, _ssmc.Error):
        pass  # an unwritable cache only costs the next process a compile
    return native


def entries():
    """Paths of the disk cache's entries."""
    d = cache_dir()
    if d is None or not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, f) for f in os.listdir(d)
                  if f.endswith(SUFFIX) and not f.startswith(".tmp-"))


def clear():
    d = cache_dir()
    if d is None or not os.path.isdir(d):
        return
    for f in os.listdir(d):
        if f.endswith(SUFFIX):
            try:
                os.unlink(os.path.join(d, f))
            except OSError:
                pass
