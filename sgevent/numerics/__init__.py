"""Exact numerics of the gamma cascade: propagators, the spike search, the event heap."""
