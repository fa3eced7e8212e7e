"""The label store: one SQLite file per project (``PROJECT/relabel.db``), the only SQL.

What it holds:

* ``samples``: one row per sample, with a stable ``sample_id`` and its image path.
* ``label_versions``: append-only label history. A sample's first version is its
  ``original`` label, kept forever; every change (``review``, ``manual``, ``import``)
  appends a version with its cycle, reviewers, time and evidence. The current label is the
  latest version. A version may also change the sample's ``status`` (``excluded``: the
  reviewers said it is not a valid image; it is kept but not trained on).
* ``runs``: training runs and their artifacts; ``cycles`` and ``cycle_steps``: the
  resumable cycle loop; ``studio_projects``, ``tasks``, ``reviews`` and ``pulls``: the
  Label Studio task map and the review outcomes applied (exactly once); ``drops``: samples
  dropped (and kept again) by issue reviews, as events; ``webhook_inbox``: ``relabel
  serve``'s answer webhooks, kept until they are recorded.

Every write happens in a transaction: a crash leaves the store as it was before the write.

The modules, one topic each: :mod:`~relabel.store.schema` (the tables and their ordered
migrations), :mod:`~relabel.store.db` (the file: open, create, transactions, meta),
:mod:`~relabel.store.labels` (with :mod:`~relabel.store.current`, the fast read and the
Parquet snapshot of the current labels), :mod:`~relabel.store.runs` (runs and cycles),
:mod:`~relabel.store.tasks` (the Label Studio task map), :mod:`~relabel.store.reviews`
(reviews, answers, gold), :mod:`~relabel.store.issues` (issue tasks and drops) and
:mod:`~relabel.store.inbox` (the webhook inbox). Each
topic adds its methods to the one :class:`Store`.
"""

from __future__ import annotations

from relabel.store.db import DB_FILE, now, writable_problem
from relabel.store.inbox import InboxMixin
from relabel.store.issues import IssuesMixin
from relabel.store.labels import LabelsMixin, LabelVersion
from relabel.store.reviews import ReviewsMixin
from relabel.store.runs import RunsMixin
from relabel.store.schema import SCHEMA_VERSION
from relabel.store.tasks import TasksMixin

__all__ = ["DB_FILE", "SCHEMA_VERSION", "LabelVersion", "Store", "now", "writable_problem"]


class Store(LabelsMixin, RunsMixin, TasksMixin, ReviewsMixin, IssuesMixin, InboxMixin):
    """The SQLite label store of one project.

    Open with :meth:`Store.open` (existing) or :meth:`Store.create` (new). Use as a
    context manager to close it. The connection, transactions and ``meta`` come from
    :class:`relabel.store.db.Database`; each topic's methods from its mixin.
    """
