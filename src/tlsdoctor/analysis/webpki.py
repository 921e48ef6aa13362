"""The final yes/no of ``cryptography.x509.verification`` (the webpki profile).

All use of that API sits here. Its errors are bare strings without codes that changed
between releases, so they are never classified: tlsdoctor's own checks name the cause, and
this verdict only catches what they missed (reported as ``invalid_chain``, reason
``verifier``, with the text as evidence). Chains anchored in a private root get the
"permit all" extension policy: private PKIs are not held to the CA/Browser Forum profile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from tlsdoctor.analysis.anchorset import TrustAnchors
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.names import HostName


def webpki_error(
    leaf: CertFacts,
    intermediates: Sequence[CertFacts],
    anchors: TrustAnchors,
    at: dt.datetime,
    host: HostName | None,
    public: bool,
) -> str | None:
    """None if the verifier accepts the chain, else its error text."""
    import ipaddress

    from cryptography import x509
    from cryptography.x509 import verification as v

    subject: x509.DNSName | x509.IPAddress
    try:
        if host is not None and host.ip is not None:
            subject = x509.IPAddress(host.ip)
        elif host is not None:
            subject = x509.DNSName(host.ascii)
        elif leaf.dns_names:
            subject = x509.DNSName(leaf.dns_names[0].replace("*", "wildcard", 1))
        elif leaf.ip_addresses:
            subject = x509.IPAddress(ipaddress.ip_address(leaf.ip_addresses[0]))
        else:
            return None  # nothing to verify a name against: the name checks already spoke
    except ValueError:
        return None
    builder = v.PolicyBuilder().store(anchors.verification_store()).time(at)
    if not public:
        builder = builder.extension_policies(
            ca_policy=v.ExtensionPolicy.permit_all().require_present(
                x509.BasicConstraints, v.Criticality.AGNOSTIC, None
            ),
            ee_policy=v.ExtensionPolicy.permit_all().require_present(
                x509.SubjectAlternativeName, v.Criticality.AGNOSTIC, None
            ),
        )
    try:
        verifier = builder.build_server_verifier(subject)
        verifier.verify(leaf.cert, [facts.cert for facts in intermediates])
    except v.VerificationError as exc:
        return str(exc) or "verification failed"
    except ValueError as exc:
        return str(exc) or "verification failed"
    return None
