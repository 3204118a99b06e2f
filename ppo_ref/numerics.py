"""Portable numerics (SPEC 8.2): the same seed gives the same bits on every x86-64
CPU with AVX2 and FMA (x86-64-v3), for the same library versions.

Which code path computes a number is chosen when numpy loads its libraries:
OpenBLAS picks a kernel for the CPU it finds, numpy picks the widest SIMD level the
CPU offers, and both read environment variables first. Portable numerics fix the
choice: OpenBLAS's Haswell kernels on one thread, numpy's dispatch capped at
x86-64-v3. ``ppo_ref/__init__.py`` imports this module before anything imports
numpy, so :func:`pin` sets those variables whatever the outer environment says, and
every process ppo_ref starts (vector envs, sweep workers, the tests' subprocesses)
inherits them. :func:`status` then reads what is actually in force (threadpoolctl
reports OpenBLAS's kernel, numpy its SIMD features) rather than trusting the
variables.

Native numerics (``PPO_REF_NUMERICS=native`` in the environment before ppo_ref is
imported, or ``--native-numerics`` on the command line) leave the machine's choice
alone: faster on a CPU with AVX-512, but its own numbers. Where the pins cannot
hold (not x86-64, a CPU without AVX2 or FMA, a BLAS other than numpy's OpenBLAS,
numpy loaded with other settings before ppo_ref), the run goes on in native
numerics, says so in one line and records it.

This module imports nothing at its top that loads numpy.
"""

import os
import platform
import sys

MODE_VARIABLE = "PPO_REF_NUMERICS"
REEXEC_VARIABLE = "PPO_REF_REEXECUTED"
MODES = ("portable", "native")
PORTABLE = "portable x86-64-v3"
BLAS_KERNEL = "Haswell"
# numpy 2.4's dispatch targets above x86-64-v3 (the baseline is x86-64-v2).
SIMD_LEVELS_ALLOWED = ("X86_V2", "X86_V3")
SIMD_LEVELS_ABOVE = ("X86_V4", "AVX512_ICL", "AVX512_SPR")
PINS = {
    "OPENBLAS_CORETYPE": BLAS_KERNEL,
    "OPENBLAS_NUM_THREADS": "1",
    "NPY_DISABLE_CPU_FEATURES": " ".join(SIMD_LEVELS_ABOVE),
}
CPU_FLAGS_NEEDED = ("avx2", "fma")

_outer = {}       # the pinned variables as the outer environment had them (None: unset)
_why_not = None   # why pin() did not pin, or None
_status = None    # status(), once computed
_announced = False
_reexecuted = False  # this process is a re-execution by reexec()
_numpy_first = False  # numpy was loaded before pin()


def requested():
    """The numerics asked for: ``PPO_REF_NUMERICS`` (portable unless it says native)."""
    mode = os.environ.get(MODE_VARIABLE, "portable")
    if mode not in MODES:
        raise ValueError(f"{MODE_VARIABLE} ({mode!r}) must be one of {', '.join(MODES)} (or unset: portable)")
    return mode


def _cpuinfo(field):
    """The first value of ``field`` in /proc/cpuinfo, or None where it cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_flags():
    """The CPU's feature flags, or None where they cannot be read."""
    flags = _cpuinfo("flags")
    return None if flags is None else set(flags.split())


def cpu_name():
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def _machine_problem():
    """Why this machine is outside the portable domain, or None (read without numpy)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"the CPU is {platform.machine()}, not x86-64"
    flags = _cpu_flags()
    if flags is None:
        return "the CPU's features cannot be read before numpy loads (no /proc/cpuinfo)"
    missing = [f for f in CPU_FLAGS_NEEDED if f not in flags]
    if missing:
        return f"the CPU lacks {' and '.join(f.upper() for f in missing)} (x86-64-v3 needs AVX2 and FMA)"
    return None


def pin():
    """Set the portable variables in this process's environment, unless native
    numerics are asked for, numpy is loaded already or the machine is outside the
    domain. Called once, by ``ppo_ref/__init__.py``, before numpy is imported."""
    global _why_not, _reexecuted, _numpy_first
    _reexecuted = os.environ.pop(REEXEC_VARIABLE, None) is not None
    _numpy_first = "numpy" in sys.modules
    if requested() == "native":
        _why_not = None
        return
    _why_not = _machine_problem()
    if _why_not is None and not _numpy_first:  # once numpy is loaded, status() reads what it loaded with
        for name, value in PINS.items():
            _outer.setdefault(name, os.environ.get(name))
            os.environ[name] = value


def _blas():
    """The BLAS libraries numpy itself loaded (its wheel's, in numpy.libs or
    numpy/.dylibs), as threadpoolctl reports them; another package's own BLAS in
    the process (scipy's, say) does not count."""
    import numpy
    from threadpoolctl import threadpool_info

    home = os.path.dirname(os.path.abspath(numpy.__file__))
    own = (home + ".libs" + os.sep, home + os.sep)
    blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return [lib for lib in blas if os.path.abspath(lib.get("filepath", "")).startswith(own)] or blas


def _simd():
    """numpy's SIMD dispatch targets enabled in this process."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    return [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]


def status():
    """What is in force in this process (computed once): a dict with ``numerics``
    ("portable x86-64-v3" or "native"), ``requested``, ``reason`` (why not portable,
    when portable was asked for), ``blas``, ``simd`` and ``cpu``."""
    global _status
    if _status is None:
        libs = _blas()
        blas = "; ".join(f"{lib['internal_api']} {lib.get('version')} {lib.get('architecture')} kernel"
                         for lib in libs)
        simd = _simd()
        mode = requested()
        reason = _why_not
        if reason is None and mode == "portable":
            reason = _not_in_force(libs, blas, simd)
            if reason and _numpy_first:
                reason = f"numpy was loaded before ppo_ref, with other settings ({reason})"
        portable = mode == "portable" and reason is None
        _status = {"numerics": PORTABLE if portable else "native", "requested": mode, "reason": reason,
                   "blas": blas, "blas_threads": [lib["num_threads"] for lib in libs],
                   "simd": " ".join(simd) or "baseline", "cpu": cpu_name()}
    return _status


def _not_in_force(libs, blas, simd):
    """Why the code paths numpy has loaded are not the portable ones, or None."""
    if len(libs) != 1 or libs[0]["internal_api"] != "openblas":
        return f"numpy's BLAS is {blas or 'unknown'}, not its own OpenBLAS"
    if libs[0].get("architecture") != BLAS_KERNEL:
        return f"OpenBLAS runs its {libs[0].get('architecture')} kernel, not {BLAS_KERNEL}"
    if libs[0]["num_threads"] != 1:
        return f"OpenBLAS runs {libs[0]['num_threads']} threads, not 1"
    if "X86_V3" not in simd or set(simd) - set(SIMD_LEVELS_ALLOWED):
        return f"numpy dispatches {' '.join(simd) or 'no SIMD level'}, not x86-64-v3"
    return None


def record():
    """What a run records of its numerics (config.json, checkpoints): the numerics,
    OpenBLAS's kernel, numpy's SIMD level, the CPU, and why not portable."""
    st = status()
    return {k: st[k] for k in ("numerics", "blas", "blas_threads", "simd", "cpu", "reason")}


def is_portable():
    return status()["numerics"] == PORTABLE


def same_numbers(a, b):
    """Whether two records (:func:`record`) compute the same bits: both portable, or
    both native on the same kernel and SIMD level (the thread count, the CPU's name
    and the reason do not change a bit)."""
    def key(r):
        return (r["numerics"],) if r["numerics"] == PORTABLE else (r["numerics"], r["blas"], r["simd"])
    return key(a) == key(b)


def describe(st=None):
    """One phrase: "portable x86-64-v3" or "native (KERNEL; SIMD; CPU)"."""
    st = st or status()
    if st["numerics"] == PORTABLE:
        return PORTABLE
    return f"native ({st['blas']}; numpy SIMD {st['simd']}; {st['cpu']})"


def announce(log):
    """Where portable numerics were asked for and do not hold, say so, once per process."""
    global _announced
    st = status()
    if st["reason"] and not _announced:
        _announced = True
        log(f"ppo_ref: portable numerics do not hold here: {st['reason']}; going on in {describe(st)}, "
            "and recording the run as native")


def child_env():
    """The environment variables that give a process ppo_ref starts this process's
    numerics (for launchers that do not pass the environment on, such as Ray)."""
    if requested() == "native":
        return {MODE_VARIABLE: "native"}
    return {MODE_VARIABLE: "portable", **(PINS if _why_not is None else {})}


def native_env():
    """This process's environment as it was before :func:`pin`, asking for native
    numerics: for a process that is to compute with the machine's own choice."""
    env = dict(os.environ, **{MODE_VARIABLE: "native"})
    for name, value in _outer.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def reexec(mode):
    """Re-execute this command (``sys.orig_argv``) so that numpy loads afresh in
    ``mode``, when this process computes in other numerics and a fresh start can
    change that; returns only when it cannot or need not. For the command line."""
    if _reexecuted:
        return  # a re-executed process takes what it got
    if requested() == mode and not (mode == "portable" and _numpy_first and _why_not is None and not is_portable()):
        return
    env = native_env() if mode == "native" else dict(os.environ, **PINS, **{MODE_VARIABLE: mode})
    env[REEXEC_VARIABLE] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
