"""schemathesis hooks for bench/fuzz/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

In its negative mode schemathesis 4.32.5 draws header values from all of Unicode (its
`codec` setting is not applied to headers), and the HTTP client it sends them with can only
put latin-1 on the wire: a value such as 'e\\U000255e0' ends the case with a client-side
UnicodeEncodeError before any request is made, reported as an error of the run. Such values
cannot reach a server, so they are dropped here; every value a client can send is still
generated, control characters and obs-text included.

The same client (requests) also refuses, before sending, a value with a CR or LF anywhere
or whitespace at its start ("Invalid leading whitespace, reserved character(s), or return
character(s) in header value", a "Network Error" of the run, seen once for '\\\rc'): those
are dropped too, by requests' own rule.
"""

import re

import schemathesis

# requests' check of a header value (requests/_internal_utils.py, _VALID_HEADER_VALUE_RE_STR).
_REQUESTS_VALUE = re.compile(r"^\S[^\r\n]*\Z|^\Z")


def _sendable(value):
    if not isinstance(value, str):
        return True
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return _REQUESTS_VALUE.match(value) is not None


@schemathesis.hook
def filter_headers(context, headers):
    return headers is None or all(_sendable(v) for v in headers.values())
