"""The public scoring functions (``relabel.scoring``), kept stable for users.

They are implemented in :mod:`relabel.ranking`; this module names the public ones.
"""

from relabel.ranking.scores import *  # noqa: F403
from relabel.ranking.scores import __all__ as __all__
