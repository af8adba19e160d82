"""livepane's entry point: `python serve.py --help`. The server is the package livepane_server/.

A SIGHUP successor is started through this file too (livepane_server.lifecycle.SERVE_PY), so systemd units and
tests keep naming `serve.py`.
"""

import sys
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent
if str(ROOT_DIR) not in sys.path:  # run from elsewhere: livepane_server and pyclient sit beside this file
    sys.path.insert(0, str(ROOT_DIR))

from livepane_server.lifecycle import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
