"""Import shim: the catalog tool lives in tools/, outside the package."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "servqual_tools_catalog", Path(__file__).resolve().parent.parent / "tools" / "catalog.py")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
template_messages = _module.template_messages
