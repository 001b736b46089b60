"""``python -m fcn_studio`` behaves exactly like the ``fcn-studio`` command."""

from fcn_studio.app import main

raise SystemExit(main())
