"""tbwal.keras (being written)."""
