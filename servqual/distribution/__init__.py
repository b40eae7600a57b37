"""Distribution: each unit's report e-mailed to its recipients, once (contract §7).

The distribution file (:mod:`.config`), the reports as written, each carrying its wave, unit
and e-mail summary (:mod:`.reports`), the e-mail of one report (:mod:`.messages`), the sending
with its retries and dry run (:mod:`.deliver`), and the delivery log (:mod:`.log`).
"""

from .config import Distribution, load_distribution
from .deliver import Delivery, check, distribute, plan
from .reports import Report, find_reports, read_report

__all__ = ["Delivery", "Distribution", "Report", "check", "distribute", "find_reports",
           "load_distribution", "plan", "read_report"]
