"""The event-driven engine: build (flat arrays), loop state, the event loop, simulate()."""
