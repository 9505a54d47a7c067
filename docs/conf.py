"""Sphinx configuration of the fairhep documentation (`make docs`; Read the Docs builds the
same file, see .readthedocs.yaml). Pages are MyST Markdown; the references are generated
from the code by docs/_ext (and the command reference by sphinx-argparse from the parser)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
# A checkout without `pip install -e .` (Read the Docs installs it; this is for a bare clone).
sys.path.insert(1, str(DOCS.parent / "suite"))

import fairhep  # noqa: E402

project = "fairhep"
author = "fairhep developers"
copyright = "fairhep developers, BSD-3-Clause"
release = version = fairhep.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinxarg.ext",
    "fairhep_sphinx",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "measured.toml"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"fairhep {release}"

autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
# Type hints name classes that have no page of their own (torch.Tensor, numpy arrays):
# autodoc states them as text rather than linking.
nitpicky = False
