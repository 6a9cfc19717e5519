"""Build the docs with ``-n -W`` where intersphinx cannot reach its targets.

intersphinx stays configured (``conf.py``): with a network, references to
Python, NumPy, SciPy and scikit-learn become links. Without one (this
project's CI machines reach package registries only), two things would fail
a ``-W`` build although nothing is wrong with the documentation:

- the "failed to reach any of the inventories" warning: turned into an info
  line here;
- every reference into those projects (``:class:`sklearn.pipeline.Pipeline```,
  a builtin ``int``): rendered as unlinked code here, but only for a project
  whose inventory did not load, and only for targets inside that project's
  namespace, and labels of that project's user guide cited by docstrings it
  wrote (the methods our estimators inherit from scikit-learn). A broken
  reference into this package still fails the build, and with a network a
  misspelt external reference does too.
"""

import builtins
import logging
import re
import sys

from sphinx.ext.intersphinx._shared import InventoryAdapter

# The top-level names each intersphinx project documents.
_NAMESPACES = {
    "python": None,  # the standard library and the builtins: see _in_python
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "sklearn": ("sklearn",),
    "joblib": ("joblib",),
    "dask": ("dask", "distributed"),
}
_UNREACHABLE = "failed to reach any of the inventories"


class _UnreachableInventoryFilter(logging.Filter):
    """Report an unreachable inventory as information, not as a warning."""

    def filter(self, record):
        if record.levelno == logging.WARNING and _UNREACHABLE in str(record.msg):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "intersphinx (offline, references left unlinked): " + str(
                record.msg
            )
        return True


def _in_python(target):
    head = target.split(".")[0]
    return hasattr(builtins, head) or head in sys.stdlib_module_names


def _owner(target, app):
    """The intersphinx project whose namespace holds ``target``, if any."""
    for name in app.config.intersphinx_mapping:
        if name == "python" and _in_python(target):
            return name
        prefixes = _NAMESPACES.get(name) or ()
        if any(target == p or target.startswith(p + ".") for p in prefixes):
            return name
    return None


def _docstring_owner(node):
    """The object whose docstring holds ``node`` (autodoc names it in the source)."""
    match = re.search(r"docstring of (\S+)", node.source or "")
    return match.group(1) if match else None


def _missing_reference(app, env, node, contnode):
    domain = node.get("refdomain")
    if domain == "py":
        target = node.get("reftarget", "")
    elif domain == "std" and node.get("reftype") == "ref":
        # A label of another project's documentation, cited by a docstring that
        # project wrote (the methods our estimators inherit from scikit-learn).
        target = _docstring_owner(node) or ""
    else:
        return None
    owner = _owner(target, app)
    if owner is None or owner in InventoryAdapter(env).named_inventory:
        return None  # ours, or a project whose inventory loaded: let it warn
    return contnode


def setup(app):
    # The filter must sit on the logger intersphinx writes through.
    logging.getLogger("sphinx.sphinx.ext.intersphinx").addFilter(
        _UnreachableInventoryFilter()
    )
    # After intersphinx's own handler (priority 500), so a loaded inventory wins.
    app.connect("missing-reference", _missing_reference, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
