"""Azure Blob service SAS (read-only, for one blob) signed with the account key.

obstore's Azure signer builds the canonical resource from the percent-encoded blob
path, so names with spaces or other escaped characters get a signature Azure (and
Azurite) reject. The SAS here follows the service-SAS layout for versions 2020-12-06
and later: the canonical resource holds the raw blob name, and the URL path holds the
encoded one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

SAS_VERSION = "2023-11-03"
_CLOCK_SKEW = timedelta(minutes=1)


def blob_sas_url(
    base: str,
    account: str,
    container: str,
    blob: str,
    account_key: str,
    expires_s: int,
    now: datetime | None = None,
    *,
    permissions: str = "r",
) -> str:
    """``base/container/blob?SAS`` granting GET (``permissions`` ``r``; ``cw`` to create
    and write the blob) for ``expires_s`` seconds.

    ``base`` is the account's blob endpoint (``https://acct.blob.core.windows.net``, or
    ``http://127.0.0.1:10000/devstoreaccount1`` for an emulator).
    """
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    start, expiry = moment - _CLOCK_SKEW, moment + timedelta(seconds=expires_s)
    fields = {
        "sp": permissions,
        "st": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "se": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sv": SAS_VERSION,
        "sr": "b",
    }
    # sp, st, se, canonical resource, si, sip, spr, sv, sr, snapshot, ses, rscc, rscd, rsce, rscl, rsct
    string_to_sign = "\n".join(
        [fields["sp"], fields["st"], fields["se"], f"/blob/{account}/{container}/{blob}", "", "", "", SAS_VERSION, "b"]
        + [""] * 7
    )
    digest = hmac.new(base64.b64decode(account_key), string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    fields["sig"] = base64.b64encode(digest).decode("ascii")
    return f"{base.rstrip('/')}/{container}/{quote(blob, safe='/~')}?{urlencode(fields, quote_via=quote)}"
