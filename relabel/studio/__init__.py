"""The Label Studio edge of relabel: the only package that imports ``label_studio_sdk``.

- :mod:`relabel.studio.labeling`: the labeling config (pure strings);
- :mod:`relabel.studio.client`: :class:`~relabel.studio.client.StudioClient`, a typed and
  retrying client (projects, task import with images, reviewed tasks, users, answers),
  put together from :mod:`~relabel.studio.transport`, :mod:`~relabel.studio.projects`,
  :mod:`~relabel.studio.imports`, :mod:`~relabel.studio.tasks` and
  :mod:`~relabel.studio.annotations`, with its data types in :mod:`~relabel.studio.models`;
- :mod:`relabel.loop.binding`, :mod:`relabel.loop.push`, :mod:`relabel.loop.pull`:
  the link to a Label Studio project, and exactly-once push and pull;
- :mod:`relabel.studio.server`: a local Label Studio in its own venv (demo, tests, CI);
- :mod:`relabel.demo.reviewers`: simulated reviewers answering through the real API.

Importing this package imports nothing heavy; import the submodules you need.
"""
