"""Integrations: each makes one delivery attempt and says whether a failure is worth retrying."""
