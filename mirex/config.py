"""Run configuration: flags > environment > defaults, resolved once at the edge.

The command line (and the MIREX wrappers through it) calls :func:`resolve`
once; everything below receives a :class:`Config` or plain arguments and
never looks at the environment. This is the only module that reads it.

Environment variables
---------------------
``MIREX_VARIANT``         system when ``--variant`` is not given
``MIREX_BACKBONES``       backbone folders (``os.pathsep``-separated) instead of the variant's
``MIREX_MODELS_DIR``      where named backbones live (default: the project's ``models/``)
``MIREX_FEATURE_STORES``  extra feature stores, or scratch folders holding one, that Train/Test read
``MIREX_ENGINE``          inference engine (``auto``, ``keras``, ``tflite``, ``openvino``)
``MIREX_PRECISION``       arithmetic (``auto``, ``fp32``, ``bf16``)
``MIREX_CLUSTER``         extract on a Dask cluster (``local:N``, ``tcp://HOST:PORT``, ``jobqueue:FILE``)
``MIREX_CACHE_DIR``       converted models kept between calls (default
                          ``$XDG_CACHE_HOME/mirex``, else ``~/.cache/mirex``)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .constants import DEFAULT_VARIANT

__all__ = ["Config", "ConfigError", "resolve", "environment", "configure_threads",
           "quiet_tensorflow", "PROJECT_MODELS_DIR", "ENV_VARIANT", "ENV_BACKBONES",
           "ENV_MODELS_DIR", "ENV_FEATURE_STORES", "ENV_ENGINE", "ENV_PRECISION", "ENV_CACHE_DIR", "ENV_CLUSTER"]

ENV_VARIANT = "MIREX_VARIANT"
ENV_BACKBONES = "MIREX_BACKBONES"
ENV_MODELS_DIR = "MIREX_MODELS_DIR"
ENV_FEATURE_STORES = "MIREX_FEATURE_STORES"
ENV_ENGINE = "MIREX_ENGINE"
ENV_PRECISION = "MIREX_PRECISION"
ENV_CACHE_DIR = "MIREX_CACHE_DIR"
ENV_CLUSTER = "MIREX_CLUSTER"

#: The backbone folders shipped with the project.
PROJECT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

#: Variables that bound the threads of TensorFlow, OpenMP and BLAS.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS")


class ConfigError(ValueError):
    """A flag or environment variable with a value no part of the harness accepts."""


@dataclass(frozen=True)
class Config:
    """Everything a MIREX call needs to know about how to run.

    ``backbones`` non-empty replaces the variant's backbones; ``num_threads``
    ``None`` means all cores.
    """

    variant: str = DEFAULT_VARIANT
    backbones: tuple[Path, ...] = ()
    models_dir: Path = PROJECT_MODELS_DIR
    feature_stores: tuple[Path, ...] = ()
    engine: str = "auto"
    precision: str = "auto"
    num_threads: int | None = None
    cache_dir: Path | None = None
    cluster: str | None = None

    @property
    def engine_options(self) -> dict:
        """Keyword arguments of the SampleCNN extractors."""
        return {"engine": self.engine, "precision": self.precision,
                "num_threads": self.num_threads,
                "engine_cache": self.cache_dir / "engines" if self.cache_dir else None}


def _paths(value: str | None) -> tuple[Path, ...]:
    return tuple(Path(p) for p in (value or "").split(os.pathsep) if p)


def resolve(variant: str | None = None, backbones=(), models_dir=None, feature_stores=(),
            engine: str | None = None, precision: str | None = None,
            num_threads: int | None = None, cluster: str | None = None, environ=None) -> Config:
    """The :class:`Config` of a call: each flag given wins over its variable.

    ``environ`` defaults to ``os.environ``. Engine and precision names are
    checked here (:class:`ConfigError`, one line); whether 'auto' means a GPU
    is decided when a network is built.
    """
    from .engines import ENGINES, PRECISIONS

    env = os.environ if environ is None else environ
    if variant and backbones:
        raise ConfigError("--variant and --backbone both given: --backbone replaces the "
                          "variant's backbones; give one of them")
    engine = (engine or env.get(ENV_ENGINE) or "auto").strip().lower()
    precision = (precision or env.get(ENV_PRECISION) or "auto").strip().lower()
    if engine not in ENGINES:
        raise ConfigError(f"unknown inference engine {engine!r} ({ENV_ENGINE} or --engine); "
                          f"choose one of {', '.join(ENGINES)}")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r} ({ENV_PRECISION} or --precision); "
                          f"choose one of {', '.join(PRECISIONS)}")
    return Config(
        variant=variant or env.get(ENV_VARIANT) or DEFAULT_VARIANT,
        backbones=tuple(Path(b) for b in backbones) or _paths(env.get(ENV_BACKBONES)),
        models_dir=Path(models_dir or env.get(ENV_MODELS_DIR) or PROJECT_MODELS_DIR),
        feature_stores=tuple(Path(s) for s in feature_stores) + _paths(env.get(ENV_FEATURE_STORES)),
        engine=engine, precision=precision, num_threads=num_threads or None,
        cache_dir=_cache_dir(env), cluster=_cluster(cluster or env.get(ENV_CLUSTER)))


def _cluster(address: str | None) -> str | None:
    """A cluster address, checked for its form (reaching it is :mod:`mirex.cluster`'s job)."""
    if not address:
        return None
    address = address.strip()
    if address.startswith("local:"):
        n = address.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise ConfigError(f"cluster {address!r}: 'local:N' needs a number of workers >= 1")
    elif not address.startswith(("tcp://", "tls://", "jobqueue:")):
        raise ConfigError(f"cluster {address!r} ({ENV_CLUSTER} or --cluster): use local:N, "
                          f"tcp://HOST:PORT or jobqueue:FILE.yaml")
    return address


def _cache_dir(env) -> Path | None:
    """``$MIREX_CACHE_DIR``, else ``$XDG_CACHE_HOME/mirex``, else ``~/.cache/mirex``."""
    if env.get(ENV_CACHE_DIR):
        return Path(env[ENV_CACHE_DIR])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "mirex"
    home = env.get("HOME")
    return Path(home) / ".cache" / "mirex" if home else None


def environment(**overrides: str) -> dict[str, str]:
    """A copy of this process's environment with ``overrides``, for child processes."""
    return {**os.environ, **overrides}


def configure_threads(n_threads: int | None) -> None:
    """Bound the threads of TensorFlow, OpenMP and BLAS in this process and its children.

    Sets the variables these libraries read when they start, so call it
    before TensorFlow is imported (the engines also hand ``n_threads`` to
    TensorFlow and TFLite directly). ``None`` or 0 leaves all cores.
    """
    if not n_threads:
        return
    for var in _THREAD_VARS:
        os.environ[var] = str(int(n_threads))
    os.environ["TF_NUM_INTEROP_THREADS"] = "1" if int(n_threads) == 1 else "2"


def quiet_tensorflow(verbose: bool = False) -> None:
    """Keep TensorFlow's start-up messages off the terminal unless ``verbose``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
