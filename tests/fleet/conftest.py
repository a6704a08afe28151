from __future__ import annotations

import sys
from pathlib import Path

# The components' packages live in their own source folders (they ship in artifacts, not in the
# edgewatch distribution); the fleet tests use the router's and the dashboard's.
_ROOT = Path(__file__).resolve().parents[2]
for _src in (_ROOT / "components" / "alert-router" / "src", _ROOT / "components" / "local-dashboard" / "src"):
    if str(_src) not in sys.path:
        sys.path.insert(0, str(_src))
