"""Operator extra links to Learnifier's web application."""
