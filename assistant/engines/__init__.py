"""Engines behind one face per role, and where they run: in the daemon or in supervised workers.

Importing this package loads nothing heavy: the worker process imports only what it hosts.
"""
