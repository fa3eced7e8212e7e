"""The Label Studio edge of relabel: the only package that imports ``label_studio_sdk``.

Transport only: it knows Label Studio's API, not relabel's projects or label store (the
loop, :mod:`relabel.loop`, decides what to send and records what comes back).

- :mod:`relabel.studio.labeling`: the labeling config (pure strings);
- :mod:`relabel.studio.client`: :class:`~relabel.studio.client.StudioClient`, a typed and
  retrying client (projects, task import with images, reviewed tasks, users, answers),
  put together from :mod:`~relabel.studio.transport`, :mod:`~relabel.studio.projects`,
  :mod:`~relabel.studio.imports`, :mod:`~relabel.studio.tasks` and
  :mod:`~relabel.studio.annotations`, with its data types in :mod:`~relabel.studio.models`
  and URL handling in :mod:`~relabel.studio.urls`;
- :mod:`relabel.studio.server`: a local Label Studio in its own venv (demo, tests, CI).

Importing this package imports nothing heavy; import the submodules you need.
"""
