"""The HTTP API (FastAPI): health, frames (list with filters and paging, detail) and vehicles."""
