"""``python -m napari_sciseg.cli`` runs the ``sciseg`` command."""

import sys

from . import main

sys.exit(main())
