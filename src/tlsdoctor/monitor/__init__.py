"""Watching endpoints over time: schedule, alert rules, notifiers, calendar, metrics."""
