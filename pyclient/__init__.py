"""livepane's browser client. Everything here imports under plain CPython except ``browser`` (the adapter)."""
