"""servqual: SERVQUAL service-quality surveys in, management decisions out.

Stages, each a module taking plain data in and handing plain data on:
ingest → validate → stats → results → report (see README.md, "Architecture").
"""

__version__ = "0.1.0"
