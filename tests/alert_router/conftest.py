from __future__ import annotations

import sys
from pathlib import Path

# The component's package lives in its own source folder (it ships in the artifact, not in the
# edgewatch distribution); put it on the path for these tests.
_COMPONENT_SRC = Path(__file__).resolve().parents[2] / "components" / "alert-router" / "src"
if str(_COMPONENT_SRC) not in sys.path:
    sys.path.insert(0, str(_COMPONENT_SRC))
