"""The HTTP edge: the operator API now, the owner API and page to follow (FastAPI)."""
