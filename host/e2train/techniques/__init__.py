"""The three E2-Train techniques: SMD (data), SLU (model), PSG (algorithm)."""
