"""Shared pytest fixtures (one section per topic)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from relabel.studio.client import StudioClient
    from relabel.studio.server import LocalServer


# ---------------------------------------------------------------------------------------
# Label Studio: one REAL server per test session, for tests marked @pytest.mark.studio.
#
# The server runs from the venv named by $RELABEL_STUDIO_VENV (default
# ~/.local/share/relabel/studio-venv, installed on first use: about a minute and 1 GB),
# on 127.0.0.1 with a free port, a temporary data folder and a fresh random token; it is
# stopped at the end of the session. If it cannot start, the tests FAIL (never skip).
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
