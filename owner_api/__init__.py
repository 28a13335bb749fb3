"""The HTTP edge (FastAPI): the owner API, the owner web page and the operator API."""
