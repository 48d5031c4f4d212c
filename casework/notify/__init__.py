"""Telling people: in-app nudges, the DSL's alerts and email."""
