"""Connect ``relabel serve`` to the project's Label Studio project (``push --backend``).

Two things are set up in Label Studio, both idempotent (an existing one with the same URL
is reused):

- the model backend at ``URL`` (Label Studio checks ``/health`` and ``/setup`` at once,
  so ``relabel serve`` must be running);
- when the shared secret is given, a webhook to ``URL/webhook`` for the answer actions
  (:data:`relabel.studio.webhooks.ANSWER_ACTIONS`) that sends the secret in the
  :data:`relabel.serve.app.SECRET_HEADER` header. Label Studio keeps the header in its
  database; anyone who administers it can read the secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from relabel.project import Project
from relabel.serve.app import SECRET_ENV, SECRET_HEADER
from relabel.studio.client import StudioClient
from relabel.studio.webhooks import ANSWER_ACTIONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connected:
    """What :func:`connect_backend` set up in Label Studio."""

    studio_project_id: int
    backend_id: int
    webhook_id: int | None


def connect_backend(
    project: Project,
    client: StudioClient,
    studio_project_id: int,
    url: str,
    *,
    secret: str | None = None,
) -> Connected:
    """Connect the model backend at ``url`` (and its webhook) to a Label Studio project.

    Parameters
    ----------
    project : Project
        The relabel project (its name titles the backend).
    client : StudioClient
        The Label Studio connection.
    studio_project_id : int
        The bound Label Studio project.
    url : str
        Where ``relabel serve`` listens, as Label Studio reaches it.
    secret : str, optional
        The webhooks' shared secret; without it no webhook is set up.

    Raises
    ------
    StudioError
        Label Studio refused the backend (not running, or not reachable from Label Studio).
    """
    base = url.rstrip("/")
    backend_id = client.connect_ml_backend(
        studio_project_id, base, title=f"relabel ({project.config.name})"[:100]
    )
    webhook_id = None
    if secret:
        webhook_id = client.create_webhook(
            studio_project_id,
            f"{base}/webhook",
            ANSWER_ACTIONS,
            headers={SECRET_HEADER: secret},
        )
    else:
        log.warning(
            "%s is not set: no webhook was set up; answers arrive by relabel pull only",
            SECRET_ENV,
        )
    return Connected(studio_project_id, backend_id, webhook_id)
