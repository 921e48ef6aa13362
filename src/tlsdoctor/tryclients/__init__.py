"""The real TLS clients of this machine, run against an endpoint beside tlsdoctor's
predictions (``tlsdoctor check HOST --try-clients``), and the facts of their local builds.

- ``runners``: how each client (curl, wget, openssl s_client, gnutls-cli, Python ssl,
  requests, httpx, node, java, go) is pointed at an endpoint and what of its output a
  user reads; ``process``: bounded, process-group-killed execution.
- ``builds``: what each local build really allows (OpenSSL version and security level,
  minimum protocol), read once and only when asked.
- ``predict``: the report's per-client verdict adjusted for those builds (pure).
- ``session``: all of it for one endpoint, concurrently; the JSON form.
"""

from tlsdoctor.tryclients.runners import CLIENTS, PROFILE_OF, Dial, Outcome, Unavailable
from tlsdoctor.tryclients.session import Trial, Trials, parse_clients, trials_to_dict, try_clients

__all__ = [
    "CLIENTS",
    "PROFILE_OF",
    "Dial",
    "Outcome",
    "Trial",
    "Trials",
    "Unavailable",
    "parse_clients",
    "trials_to_dict",
    "try_clients",
]
