"""The clock-driven reference: the discrete recursion stepped at every dt (DESIGN.md 4)."""
