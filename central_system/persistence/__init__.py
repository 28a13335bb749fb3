"""SQLAlchemy 2 async adapters: engine, tables, repositories, unit of work."""
