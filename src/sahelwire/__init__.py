"""SahelWire: annotated news on US-Niger security relations, as a versioned HF dataset.

The package is laid out as the data flows, one sub-package per stage, and imports run one
way: a stage may import the stages listed before it in :data:`STAGES`, never one after it
(tests/test_layout.py holds the code to this). Each stage's ``__init__`` says what it
produces.
"""

__all__ = ["STAGES", "__version__"]

__version__ = "0.1.0"

# Bottom to top. A module of stage i may import modules of stages 0..i, nothing above.
STAGES = ("io", "schema", "raw", "labelstudio", "annotations", "release", "versions", "cli")
