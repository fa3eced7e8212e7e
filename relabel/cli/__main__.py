"""``python -m relabel.cli``: the ``relabel`` command."""

import sys

from relabel.cli.main import main
from relabel.errors import ExitCode

sys.exit(main(prog_name="relabel") or ExitCode.OK)
