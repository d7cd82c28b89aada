"""Reporting: activity and energy metrics, run reports, figures (the only matplotlib users)."""
