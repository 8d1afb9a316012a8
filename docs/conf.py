"""Sphinx configuration: Markdown pages (MyST) and an API reference from docstrings."""

from kernel_async import __version__

project = "kernel-async"
author = "kernel-async developers"
copyright = "2026, kernel-async developers"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "benchmark-results.md"]  # included by benchmarks.md
html_static_path = ["_static"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False


html_theme = "furo"
html_title = f"kernel-async {__version__}"
