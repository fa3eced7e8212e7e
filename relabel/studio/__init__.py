"""The Label Studio edge of relabel: the only package that imports ``label_studio_sdk``.

- :mod:`relabel.studio.labeling`: the labeling config (pure strings);
- :mod:`relabel.studio.client`: :class:`~relabel.studio.client.StudioClient`, a typed and
  retrying client (projects, task import with images, reviewed tasks, users, answers);
- :mod:`relabel.studio.server`: a local Label Studio in its own venv (demo, tests, CI);
- :mod:`relabel.studio.simulate`: simulated reviewers answering through the real API.

Importing this package imports nothing heavy; import the submodules you need.
"""
