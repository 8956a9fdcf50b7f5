"""Capture: what models publish (declared on the model, built into row triggers) and on which topics."""
