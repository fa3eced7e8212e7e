"""The training engine of a project: what computes a run's probabilities and predicts.

An engine bundles the four things a project asks of training: out-of-fold probabilities
(``cross_validate``), a final model (``train_final``), backbone features (``embed``) and
the probabilities of new images from a saved model (``predict``). relabel has two: the
local one (:mod:`relabel.training`, in this process) and Ray's
(:mod:`relabel.training.on_ray`), chosen by ``training.executor``.

``RELABEL_ENGINE=package.module:NAME`` replaces them by another engine object with the
same four callables: the test suite's plumbing tests use a fast, deterministic one
(``tests/engine.py``), and a team could plug its own trainer the same way.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relabel.config import Config
from relabel.errors import ConfigError

#: The environment variable naming a replacement engine (``module:attribute``).
ENGINE_ENV = "RELABEL_ENGINE"


@dataclass(frozen=True)
class Engine:
    """The training functions a project uses (signatures of :mod:`relabel.training`).

    Attributes
    ----------
    name : str
        ``local``, ``ray`` or the replacement's name.
    cross_validate : callable
        As :func:`relabel.training.cross_validated_probabilities`.
    train_final : callable
        As :func:`relabel.training.train_final_model`.
    embed : callable
        As :func:`relabel.training.embed.embed_images`.
    predict : callable
        As :func:`relabel.training.predict_probabilities`.
    final_embeddings : callable, optional
        As :func:`relabel.training.predict_with_embeddings`: the final model's embeddings
        of every sample (``final_embeddings.npy``); None: the engine gives none.
    """

    name: str
    cross_validate: Callable[..., Any]
    train_final: Callable[..., Any]
    embed: Callable[..., Any]
    predict: Callable[..., Any]
    final_embeddings: Callable[..., Any] | None = None


def engine_for(config: Config) -> Engine:
    """The engine of ``config`` (``training.executor``), or ``$RELABEL_ENGINE``'s.

    Raises
    ------
    ConfigError
        ``RELABEL_ENGINE`` names nothing importable, or not an engine.
    """
    replacement = os.environ.get(ENGINE_ENV)
    if replacement:
        return _load(replacement)
    from relabel import training
    from relabel.training import embed

    executor = training.Executor.from_config(config)
    if not executor.is_ray:
        return Engine(
            "local",
            training.cross_validated_probabilities,
            training.train_final_model,
            embed.embed_images,
            training.predict_probabilities,
            training.predict_with_embeddings,
        )
    from relabel.training import on_ray

    return Engine(
        "ray",
        functools.partial(on_ray.cross_validated_probabilities, executor=executor),
        functools.partial(on_ray.train_final_model, executor=executor),
        functools.partial(on_ray.embed_images, executor=executor),
        training.predict_probabilities,
        training.predict_with_embeddings,  # one pass here, over the images at hand
    )


def _load(spec: str) -> Engine:
    module_name, _, attribute = spec.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{ENGINE_ENV}={spec}: cannot import it ({exc})") from None
    needed = ("cross_validate", "train_final", "embed", "predict")
    if not all(callable(getattr(found, k, None)) for k in needed):
        raise ConfigError(f"{ENGINE_ENV}={spec}: not an engine (see relabel.project.engine)")
    return found
