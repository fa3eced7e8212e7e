"""Where training runs: in this process (``local``) or on a Ray cluster (``ray``).

:class:`Executor` is the ``training.executor``, ``training.ray_address`` and
``training.ray_resources`` of a project's config. It says where the work runs, not what
is computed: the same data, settings and seed give the same out-of-fold probabilities on
either executor (see :mod:`relabel.training.on_ray`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relabel import config as config_mod

__all__ = ["LOCAL", "RAY", "Executor"]

LOCAL = "local"
RAY = "ray"


@dataclass(frozen=True)
class Executor:
    """Where folds, the final model, embedding and prediction run.

    Attributes
    ----------
    kind : str
        ``"local"`` or ``"ray"``.
    address : str
        The Ray cluster: ``"auto"``, ``"ray://host:10001"``, ``"host:port"``, or empty for
        a local Ray started in this process (when none is running yet).
    resources : Mapping[str, float]
        Ray options of each fold's task and of the final model's (``num_cpus``,
        ``num_gpus``, ``memory``); Ray Data's prediction and embedding workers take the
        same.
    max_retries : int
        Times Ray re-runs a fold whose worker process died (a lost node, ``kill -9``,
        out of memory) before the run fails naming the fold.
    runtime_env : Mapping[str, Any] | None
        A Ray runtime environment for relabel's tasks (``env_vars``, ``pip``, ...); not
        a config key: for library users and tests.
    """

    kind: str = LOCAL
    address: str = ""
    resources: Mapping[str, float] = field(default_factory=lambda: {"num_cpus": 1})
    max_retries: int = 3
    runtime_env: Mapping[str, Any] | None = None

    @classmethod
    def from_config(cls, config: config_mod.Config) -> Executor:
        """The executor of a project's ``[training]`` section."""
        t = config.training
        return cls(
            kind=t.executor,
            address=t.ray_address,
            resources=dict(t.ray_resources),
            max_retries=t.ray_max_retries,
        )

    @property
    def is_ray(self) -> bool:
        """Whether the work runs on Ray."""
        return self.kind == RAY

    def task_options(self) -> dict[str, Any]:
        """Ray options of one fold's (or the final model's) task."""
        options: dict[str, Any] = {"max_retries": self.max_retries, "retry_exceptions": False}
        options.update(self.resources)
        if self.runtime_env:
            options["runtime_env"] = dict(self.runtime_env)
        return options
