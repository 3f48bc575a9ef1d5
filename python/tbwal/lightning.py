"""tbwal.lightning (being written)."""
