"""The service layer: the one Python API every front end uses (CLI, REST API, web app).

:class:`Accessio` is a catalog and everything done with it, with the operator's full
rights (the local CLI). The modules beside it do the same for a :class:`Principal`
(a user of the server, or the operator), with access checked in the queries
themselves: a folder the caller may not see does not exist for them.
"""

from accessio.service.access import OPERATOR, Forbidden, Principal
from accessio.service.app import Accessio, ItemPage, Job

__all__ = ["OPERATOR", "Accessio", "Forbidden", "ItemPage", "Job", "Principal"]
