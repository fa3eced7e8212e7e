"""Shared pytest fixtures (one section per topic) and the test tiers.

Tiers are markers applied automatically from the fixtures a test uses, directly or
through another fixture (see :data:`FIXTURE_TIERS`):

* ``studio``: a REAL Label Studio server (one per test session, a fresh project per test);
* ``browser``: headless Chromium;
* ``compose``: docker-compose (validated offline in its own venv);
* ``slow``: trains a Keras model (the ``trains`` fixture, or ``keras`` which uses it);
* ``ray``: a REAL local Ray (2 CPUs, one per test module that asks; fixture ``ray_cluster``).

``make test-fast`` runs ``-m "not studio and not browser and not compose and not slow and
not ray"``;
``make test`` runs every tier. A test that trains Keras without asking for the ``trains``
(or ``keras``) fixture fails (see :class:`_TrainingGuard`), so the fast tier never trains
Keras. Plumbing tests (init, push, pull, cycles, reports, the CLI) ask
for ``test_engine`` instead: ``tests/engine.py``'s fast, deterministic engine (a logistic
regression per fold, no TensorFlow), chosen by ``RELABEL_ENGINE`` here and in child
processes; they stay in their tier.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from relabel.studio.client import StudioClient
    from relabel.studio.server import LocalServer

ROOT = Path(__file__).resolve().parents[1]

#: fixture -> the tier marker of every test that uses it (directly or through another fixture)
FIXTURE_TIERS = {
    "studio_server": "studio",
    "chromium": "browser",
    "compose_venv": "compose",
    "trains": "slow",
    "ray_cluster": "ray",
}


#: Tiers whose tests share one expensive resource: under ``pytest -n 2 --dist loadgroup``
#: (``make test``) each runs in one worker, so there is still one Label Studio server and
#: one Ray cluster per run.
SHARED_TIERS = ("studio", "ray")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the tiers of the fixtures it uses (and its xdist group)."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in FIXTURE_TIERS.items():
            if fixture in used:
                item.add_marker(marker)
                if marker in SHARED_TIERS:
                    item.add_marker(pytest.mark.xdist_group(marker))


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """Undo a test's logging set-up (``relabel``'s CLI, run in process, replaces the root
    logger's handlers and sets levels), so that no handler leaks into the next test."""
    from tests.clirun import logging_restored

    with logging_restored():
        yield


# ---------------------------------------------------------------------------------------
# Training: the ``trains`` fixture marks a test slow; without it, training is refused.
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def trains() -> dict[str, str]:
    """For a test that trains a model (tier ``slow``): the environment of a training child
    process (TensorFlow's start-up notices off, one hash seed)."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"}


@pytest.fixture(scope="session")
def keras(trains: dict[str, str]) -> Any:
    """Keras (TensorFlow backend), imported once. Ask for it in every test that trains here."""
    from relabel.training import import_keras

    return import_keras()[1]


@pytest.fixture
def test_engine(monkeypatch: pytest.MonkeyPatch) -> str:
    """Plumbing tests: the fast, deterministic engine of ``tests/engine.py`` instead of
    Keras, in this process and in child processes (``RELABEL_ENGINE``). No TensorFlow."""
    from tests.engine import SPEC

    monkeypatch.setenv("RELABEL_ENGINE", SPEC)
    return SPEC


class _TrainingGuard:
    """Refuse Keras training while a test without the ``trains`` fixture is set up, runs
    and is torn down (tier ``slow``), in this process and in child processes.

    It replaces :func:`relabel.training.fit.keras_fit`, the one call of Keras'
    ``model.fit`` that every path into training goes through (``fit_model``, each fold of
    a cross-validation, the final model, Ray tasks), and sets ``RELABEL_REFUSE=training``,
    which child processes inherit and ``keras_fit`` obeys. Run from pytest's hooks, not a
    fixture, so that it also covers the module- and session-scoped fixtures a test sets up
    (a fixture of the test's would only start after those).
    """

    def __init__(self) -> None:
        self.original: Any = None
        self.saved_env: str | None = None

    def refuse(self, nodeid: str) -> None:
        from relabel.training import fit

        def refused(*args: object, **kwargs: object) -> None:
            raise AssertionError(
                f"{nodeid} trains a model: ask for the `trains` (or `keras`) fixture, so "
                "that it is marked slow and stays out of `make test-fast`"
            )

        self.original = fit.keras_fit
        fit.keras_fit = refused
        self.saved_env = os.environ.get("RELABEL_REFUSE")
        os.environ["RELABEL_REFUSE"] = "training"

    def restore(self) -> None:
        if self.original is None:
            return
        from relabel.training import fit

        fit.keras_fit, self.original = self.original, None
        if self.saved_env is None:
            os.environ.pop("RELABEL_REFUSE", None)
        else:
            os.environ["RELABEL_REFUSE"] = self.saved_env


_GUARD = _TrainingGuard()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of ``item`` is set up: refuse training unless it asks for it."""
    if "trains" not in getattr(item, "fixturenames", ()):
        _GUARD.refuse(item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """After ``item``'s fixtures are torn down: training is no longer refused."""
    yield
    _GUARD.restore()


# ---------------------------------------------------------------------------------------
# Label Studio: one REAL server per test session, for tests marked @pytest.mark.studio.
#
# The server runs from the venv named by $RELABEL_STUDIO_VENV (default
# ~/.local/share/relabel/studio-venv, installed on first use: about a minute and 1 GB),
# on 127.0.0.1 with a free port, a temporary data folder and a fresh random token; it is
# stopped at the end of the session. If it cannot start, the tests FAIL (never skip).
# The data folder is a copy of a migrated one cached per Label Studio version (made on the
# first start ever, about a minute: relabel.studio.server.seed_data_dir), so the server
# is up in seconds; the admin, password and token are created afresh for each session.
# ---------------------------------------------------------------------------------------

STUDIO_ADMIN = "admin@relabel.test"


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A running Label Studio (``LocalServer``) with a document root for local files."""
    from relabel.studio import server

    root = tmp_path_factory.mktemp("label-studio")
    document_root = root / "docroot"
    document_root.mkdir()
    try:
        venv = server.default_venv()
        server.install_server(venv)
        local = server.start_server(
            venv,
            root / "data",
            username=STUDIO_ADMIN,
            password=secrets.token_urlsafe(16),
            token=secrets.token_hex(20),
            document_root=document_root,
        )
    except Exception as exc:  # the studio tests must fail, not skip
        pytest.fail(f"could not start Label Studio for the studio tests: {exc}", pytrace=False)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def own_studio_server(tmp_path: Path, studio_server: LocalServer) -> Iterator[LocalServer]:
    """A second Label Studio for one test (one it may stop, restart or move), stopped after.

    Its data folder is a copy of the migrated template the session's server was made from
    (:func:`relabel.studio.server.seed_data_dir`), so it starts in seconds; its admin and
    token are its own.
    """
    from relabel.studio import server

    local = server.start_server(
        studio_server.venv_dir or server.default_venv(),
        tmp_path / "own-label-studio",
        username="own@relabel.test",
        password=secrets.token_urlsafe(16),
        token=secrets.token_hex(20),
    )
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def studio_document_root(studio_server: LocalServer) -> Path:
    """The folder the session's Label Studio may serve local files from."""
    assert studio_server.document_root is not None
    return studio_server.document_root


@pytest.fixture(scope="session")
def studio_client(studio_server: LocalServer) -> Iterator[StudioClient]:
    """A ``StudioClient`` for the session's server, with short retry delays."""
    client = studio_server.client(retries=3, backoff=0.05, max_backoff=0.2, timeout=120.0)
    try:
        yield client
    finally:
        client.close()


# ---------------------------------------------------------------------------------------
# Headless Chromium (tier ``browser``) and docker-compose (tier ``compose``).
# ---------------------------------------------------------------------------------------

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless Chromium ($RELABEL_CHROMIUM or on PATH); missing FAILS the test."""
    found = os.environ.get("RELABEL_CHROMIUM") or next(
        (shutil.which(name) for name in CHROMIUM_NAMES if shutil.which(name)), None
    )
    if not found:
        pytest.fail(
            "headless Chromium is needed to check the HTML report but was not found "
            f"(looked for {', '.join(CHROMIUM_NAMES)} on PATH and $RELABEL_CHROMIUM). "
            "Install it: make browser (apt-get install -y chromium)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def compose_venv() -> Path:
    """The venv with docker-compose 1.29.2 that scripts/validate-compose.sh creates once."""
    venv = Path(os.environ.get("RELABEL_COMPOSE_VENV", ROOT / ".venv-compose"))
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "validate-compose.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0 or not (venv / "bin" / "docker-compose").is_file():
        pytest.fail(f"validate-compose.sh failed:\n{done.stdout}{done.stderr}", pytrace=False)
    return venv


# ---------------------------------------------------------------------------------------
# Ray (tier ``ray``): one local Ray of 2 CPUs per test module, shut down after it, so its
# idle workers do not hold memory through the rest of the session.
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A real local Ray (2 CPUs, no dashboard); yields the ``ray`` module.

    Its processes are started without ``RELABEL_REFUSE`` (they inherit this process's
    environment when Ray starts, and outlive the test that started it): the module's tests
    that train on it ask for ``trains``, whichever test happened to start it.
    """
    import ray

    refuse = os.environ.pop("RELABEL_REFUSE", None)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    finally:
        if refuse is not None:
            os.environ["RELABEL_REFUSE"] = refuse
    try:
        yield ray
    finally:
        ray.shutdown()
