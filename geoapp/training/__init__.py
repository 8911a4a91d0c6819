"""Trainers, checkpoints (safetensors + JSON card) and the pieces they share."""
