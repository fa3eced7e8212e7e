"""relabel: find wrong labels in image-classification datasets and get them fixed by people.

The package is library first: :mod:`relabel.scoring` is pure numpy over
``(labels, probabilities)``; :mod:`relabel.dataset`, :mod:`relabel.store` and
:mod:`relabel.studio` are the edges (files, SQLite, Label Studio); :mod:`relabel.cycle`
orchestrates them; :mod:`relabel.cli` is a thin click front end.
"""

__version__ = "0.1.0"
