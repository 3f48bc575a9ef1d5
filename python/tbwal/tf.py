"""tbwal.tf (being written)."""
