"""Adaptive selection: which codec and quality make the smallest file meeting a target.

Entry point: `compression.services.compress_image`; its docstring maps the modules here.
"""
