"""The model description: networks and their parameters, input events, simulation results."""
