"""tbwal.hf (being written)."""
