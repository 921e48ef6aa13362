"""Which local stores trust a root: for ``trust find`` and for reports whose chain ends in
an unknown root (an internal CA, an interception proxy)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509

from tlsdoctor.analysis.facts import CertFacts, signed_by
from tlsdoctor.analysis.trust import TRUST_FIND_HINT
from tlsdoctor.codes import FindingCode
from tlsdoctor.models import ClientVerdict, Finding, JsonValue, Report
from tlsdoctor.stores.base import StoreError, TrustStore


@dataclass(frozen=True)
class Holding:
    """Whether one store holds the root (None: the store could not be read)."""

    store: str
    clients: tuple[str, ...]
    trusted: bool | None
    certificate: x509.Certificate | None  # the root as that store holds it


def holding(
    stores: Sequence[TrustStore], subject: str, child: x509.Certificate | None = None
) -> list[Holding]:
    """For each store: does it hold a root whose subject reads ``subject`` (as
    :attr:`CertFacts.subject_text` writes it), and that signed ``child`` when given?"""
    child_facts = CertFacts.of(child) if child is not None else None
    result = []
    for store in stores:
        # Not store.info(): it reads the store as well, and keytool costs a JVM start.
        try:
            certificates = store.certificates()
        except StoreError:
            result.append(Holding(store.id, store.clients, None, None))
            continue
        found = None
        for cert in certificates:
            facts = CertFacts.of(cert)
            if facts.subject_text == subject and (
                child_facts is None or signed_by(child_facts, facts)
            ):
                found = cert
                break
        result.append(Holding(store.id, store.clients, found is not None, found))
    return result


# The findings whose root may be in some store here, and the evidence key naming that root.
_ROOT_CODES = frozenset({FindingCode.UNTRUSTED_ROOT, FindingCode.INTERCEPTION_PROXY})
_ROOT_KEYS = ("root", "missing_issuer", "issuer")


def with_local_stores(
    report: Report, stores: Callable[[], Sequence[TrustStore]], target: str | None
) -> Report:
    """``report`` with each untrusted_root / interception_proxy finding saying which of
    this machine's stores hold its root, and the ``trust add`` that fixes the others.
    ``stores`` is called only when a finding needs them: reading keytool's store costs a
    JVM start."""
    if not any(_root_of(finding) for finding in report.findings):
        return report
    found = stores()
    findings = []
    clients = report.clients
    for finding in report.findings:
        root = _root_of(finding)
        if root is None:
            findings.append(finding)
            continue
        holdings = holding(found, root)
        clients = _clients_reading(clients, found, holdings)
        evidence = dict(finding.evidence)
        evidence["local_stores"] = [_as_json(h) for h in holdings]
        local = _local_fix(holdings, target)
        fix = [local if line == TRUST_FIND_HINT else line for line in finding.fix]
        if local not in fix:
            fix.append(local)
        findings.append(dataclasses.replace(finding, evidence=evidence, fix=tuple(fix)))
    return dataclasses.replace(report, findings=tuple(findings), clients=clients)


def _clients_reading(
    verdicts: tuple[ClientVerdict, ...],
    stores: Sequence[TrustStore],
    holdings: Sequence[Holding],
) -> tuple[ClientVerdict, ...]:
    """The per-client verdicts with what each client really reads here: a client whose only
    failure is the unknown root connects when a store (or a bundle its variable names)
    that it reads holds that root: Chrome after the CA went into ~/.pki/nssdb, Java after
    keytool imported it, requests with REQUESTS_CA_BUNDLE naming a bundle with it. The root
    is matched by name, as ``local_stores`` is (the report keeps no certificate bytes)."""
    import os

    from tlsdoctor.stores.readers import node_facts, pip_facts, readings, trusting

    root = next((h.certificate for h in holdings if h.certificate is not None), None)
    if root is None:
        return verdicts
    held = {h.store: h.trusted for h in holdings}
    by_client = {r.client: r for r in readings(stores, os.environ, node_facts(), pip_facts())}
    result = []
    for verdict in verdicts:
        reading = by_client.get(verdict.client)
        if (
            not verdict.trusted
            and verdict.codes == (FindingCode.UNTRUSTED_ROOT,)
            and reading is not None
            and trusting(reading, held, root)
        ):
            verdict = dataclasses.replace(verdict, trusted=True, codes=(), expected_error=None)
        result.append(verdict)
    return tuple(result)


def _root_of(finding: Finding) -> str | None:
    if finding.code not in _ROOT_CODES:
        return None
    for key in _ROOT_KEYS:
        value = finding.evidence.get(key)
        if isinstance(value, str):
            return value
    return None


def _as_json(h: Holding) -> JsonValue:
    return {"store": h.store, "trusted": h.trusted, "clients": list(h.clients)}


def _local_fix(holdings: Sequence[Holding], target: str | None) -> str:
    having = [h.store for h in holdings if h.trusted]
    lacking = [h.store for h in holdings if h.trusted is False]
    if not having:
        return (
            "No trust store on this machine holds that root: get it from the CA's owner, "
            "check its fingerprint with them, then `tlsdoctor trust add root.pem`."
        )
    if not lacking:
        return f"Every trust store on this machine holds that root ({', '.join(having)})."
    stores = " ".join(f"--store {store}" for store in lacking)
    return (
        f"On this machine {', '.join(having)} hold(s) that root and {', '.join(lacking)} do(es) "
        f"not: `tlsdoctor trust find {target or 'HOST'} --save root.pem`, then "
        f"`tlsdoctor trust add root.pem {stores}`."
    )
