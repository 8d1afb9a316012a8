"""``python -m kernel_async`` runs the ``kernel-async`` command."""

import sys

from kernel_async._cli import main

sys.exit(main())
