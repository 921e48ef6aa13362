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

# Critical extensions the webpki policy accounts for; it refuses any other critical one,
# where OpenSSL and Go accept critical certificatePolicies and cRLDistributionPoints.
_ACCOUNTED_CRITICAL = frozenset({"2.5.29.19", "2.5.29.15", "2.5.29.37", "2.5.29.17", "2.5.29.30"})


def models_path(path: Sequence[CertFacts]) -> bool:
    """Whether the webpki verifier judges ``path`` as the clients do. It does not where
    it is stricter than OpenSSL, Go and browsers (checked by the oracle tests): other
    critical extensions, self-issued intermediates (it does not find the path), DNS name
    constraints with a leading dot (it calls them malformed), name constraints other than
    DNS and IP ones (it refuses directoryName), more than 8 intermediates.
    Then tlsdoctor's own rules alone decide, with every signature checked."""
    from cryptography import x509

    if len(path) > 10:
        return False
    for depth, facts in enumerate(path):
        if any(oid not in _ACCOUNTED_CRITICAL for oid, _ in facts.critical_extensions):
            return False
        if 0 < depth < len(path) - 1 and facts.is_self_issued:
            return False
        constraints = facts.extension(x509.NameConstraints)
        if constraints is not None:
            subtrees = [
                *(constraints.permitted_subtrees or ()),
                *(constraints.excluded_subtrees or ()),
            ]
            if any(isinstance(s, x509.DNSName) and s.value.startswith(".") for s in subtrees):
                return False
            # It refuses directoryName (and other) constraints that OpenSSL applies.
            if any(not isinstance(s, (x509.DNSName, x509.IPAddress)) for s in subtrees):
                return False
    return True


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
