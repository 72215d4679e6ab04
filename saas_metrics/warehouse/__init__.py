"""The warehouse: SQLAlchemy engine, atomic partition-window writes and reads, IO manager."""

from saas_metrics.warehouse import checkpoint
from saas_metrics.warehouse.store import Warehouse, month_window

__all__ = ["Warehouse", "checkpoint", "month_window"]
