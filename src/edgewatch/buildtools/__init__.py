"""Helpers of `edgewatch build`: suite gdk-config handling, reproducible zips, build recipes."""
