"""`python -m edgewatch.build`: what GDK's custom build command runs in a component folder."""

import sys

from edgewatch.build.cli import main

sys.exit(main())
