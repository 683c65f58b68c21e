"""``python -m bridge`` is the same as the ``ringotel-bridge`` command."""

from bridge.cli import main

raise SystemExit(main())
