"""Figures from the register: statistics, trends and school reports."""
