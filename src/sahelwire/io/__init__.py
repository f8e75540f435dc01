"""Files and settings: project paths, ``[tool.sahelwire]`` settings, atomic writes, locks,
GC pausing for bulk loops and Markdown tables.

Produces nothing of the dataset itself; every other stage stands on it. May import nothing of
``sahelwire`` (only the standard library and third-party packages).
"""
