"""livepane's entry point: `python serve.py --help`. The server is the package livepane_server/.

A SIGHUP successor is started through this file too (livepane_server.lifecycle.SERVE_PY), so systemd units and
tests keep naming `serve.py`.
"""

import signal
import sys
from pathlib import Path

# Hold the signals the server handles until its handlers are in place (livepane_server.lifecycle unblocks them):
# one sent while this process starts (a SIGHUP successor's pid may be known early) is delivered then, not met by the
# default action, which for SIGHUP is death.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP, signal.SIGTERM, signal.SIGINT})

ROOT_DIR = Path(__file__).resolve().parent
if str(ROOT_DIR) not in sys.path:  # run from elsewhere: livepane_server and pyclient sit beside this file
    sys.path.insert(0, str(ROOT_DIR))

from livepane_server.lifecycle import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
