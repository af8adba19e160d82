"""The page's entry point, run by PyScript on the main thread: everything lives in pyclient.browser."""

from pyclient.browser import main

await main()  # noqa: F704 (PyScript runs this file as top-level async code)
