"""CRLs judged by the rules of RFC 5280 6.3 (issuer's cRLSign, critical extensions, delta
CRLs, issuingDistributionPoint scope), intermediates' revocation over loopback HTTP, and a
healthy private-PKI endpoint that exits 0 although its leaf names no CRL or OCSP URL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID

import httpserver
import lintcases
from lintcases import Chain, Spec
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.revocation import State, about_leaf, judge_crl
from tlsdoctor.anchors import CUSTOM, TrustAnchors
from tlsdoctor.check import check_chain
from tlsdoctor.cli.main import main
from tlsdoctor.codes import FindingCode as C
from tlsdoctor.models import Report, TrustAnchorSource

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
HOUR = dt.timedelta(hours=1)
UNKNOWN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")
CRL_URL = "http://127.0.0.1:9/issuing.crl"


def crl_for(
    issuer: Spec,
    revoked: Sequence[int] = (),
    *,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    entry_extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    at: dt.datetime = NOW,
) -> bytes:
    entries = []
    for serial in revoked:
        builder = x509.RevokedCertificateBuilder().serial_number(serial)
        builder = builder.revocation_date(at - 2 * HOUR)
        for value, critical in entry_extensions:
            builder = builder.add_extension(value, critical)
        entries.append(builder.build())
    crl = (
        x509.CertificateRevocationListBuilder(revoked_certificates=entries)
        .issuer_name(issuer.subject)
        .last_update(at - HOUR)
        .next_update(at + 7 * 24 * HOUR)
    )
    for value, critical in extensions:
        crl = crl.add_extension(value, critical)
    return crl.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def point(*urls: str) -> x509.CRLDistributionPoints:
    names = [x509.UniformResourceIdentifier(url) for url in urls]
    return x509.CRLDistributionPoints([x509.DistributionPoint(names, None, None, None)])


def idp(
    *urls: str, users: bool = False, cas: bool = False, reasons: bool = False
) -> x509.IssuingDistributionPoint:
    return x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url) for url in urls] or None,
        relative_name=None,
        only_contains_user_certs=users,
        only_contains_ca_certs=cas,
        only_some_reasons=frozenset({x509.ReasonFlags.key_compromise}) if reasons else None,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )


def serial(spec: Spec) -> int:
    assert isinstance(spec.serial, int)
    return spec.serial


def chain_with(change: Callable[[Chain], None] | None = None) -> tuple[Chain, list[CertFacts]]:
    """[leaf, intermediate, root] facts of a clean chain whose leaf names CRL_URL."""
    chain = Chain.clean()
    chain.leaf.set(point(CRL_URL), False)
    if change is not None:
        change(chain)
    return chain, [CertFacts.of(cert) for cert in chain.build()]


def judge(leaf: CertFacts, issuer: CertFacts, data: bytes) -> tuple[State, str]:
    judged = judge_crl(leaf, issuer, data, NOW, "crl", "test")
    return judged.state, judged.detail


def test_the_crl_issuer_must_be_allowed_to_sign_crls() -> None:
    def no_crl_sign(chain: Chain) -> None:
        usage = x509.KeyUsage(True, False, False, False, False, True, False, False, False)
        chain.intermediate.set(usage, True)

    chain, (leaf, inter, _) = chain_with(no_crl_sign)
    state, detail = judge(leaf, inter, crl_for(chain.intermediate))
    assert state is State.UNKNOWN and "lacks cRLSign" in detail
    # Twins: with cRLSign it answers; without any keyUsage, RFC 5280 lets it sign CRLs.
    chain, (leaf, inter, _) = chain_with()
    assert judge(leaf, inter, crl_for(chain.intermediate))[0] is State.GOOD
    chain, (leaf, inter, _) = chain_with(lambda ch: ch.intermediate.drop(ExtensionOID.KEY_USAGE))
    assert judge(leaf, inter, crl_for(chain.intermediate))[0] is State.GOOD


@pytest.mark.parametrize("critical", [True, False])
def test_an_unknown_crl_extension_voids_the_crl_only_when_critical(critical: bool) -> None:
    chain, (leaf, inter, _) = chain_with()
    unknown = x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00")
    data = crl_for(chain.intermediate, extensions=[(unknown, critical)])
    state, detail = judge(leaf, inter, data)
    if critical:
        assert state is State.UNKNOWN and "1.3.6.1.4.1.55555.1" in detail
    else:
        assert state is State.GOOD


@pytest.mark.parametrize("critical", [True, False])
def test_an_unknown_entry_extension_voids_the_whole_crl_only_when_critical(
    critical: bool,
) -> None:
    chain, (leaf, inter, _) = chain_with()
    unknown = x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00")
    # The entry is about another certificate: the CRL is void for every certificate.
    data = crl_for(chain.intermediate, [0xDEAD], entry_extensions=[(unknown, critical)])
    state, detail = judge(leaf, inter, data)
    if critical:
        assert state is State.UNKNOWN and "an entry of the CRL" in detail
    else:
        assert state is State.GOOD


def test_a_delta_crl_is_not_a_complete_one() -> None:
    chain, (leaf, inter, _) = chain_with()
    delta = crl_for(chain.intermediate, extensions=[(x509.DeltaCRLIndicator(5), True)])
    state, detail = judge(leaf, inter, delta)
    assert state is State.UNKNOWN and "delta CRL" in detail
    full = crl_for(chain.intermediate, extensions=[(x509.CRLNumber(5), False)])
    assert judge(leaf, inter, full)[0] is State.GOOD


def test_issuing_distribution_point_scope() -> None:
    chain, (leaf, inter, root) = chain_with()
    users_only = crl_for(
        chain.root, [serial(chain.intermediate)], extensions=[(idp(users=True), True)]
    )
    # A CRL of end-entity certificates says nothing about the intermediate (a CA)...
    state, detail = judge(inter, root, users_only)
    assert state is State.UNKNOWN and "onlyContainsUserCerts" in detail
    # ...and a CRL of CA certificates answers for it: here, revoked.
    cas_only = crl_for(chain.root, [serial(chain.intermediate)], extensions=[(idp(cas=True), True)])
    assert judge(inter, root, cas_only)[0] is State.REVOKED
    # The leaf is no CA: a CA-only CRL does not cover it, an end-entity one does.
    leaf_cas = crl_for(chain.intermediate, extensions=[(idp(CRL_URL, cas=True), True)])
    assert "onlyContainsCACerts" in judge(leaf, inter, leaf_cas)[1]
    leaf_users = crl_for(chain.intermediate, extensions=[(idp(CRL_URL, users=True), True)])
    assert judge(leaf, inter, leaf_users)[0] is State.GOOD


def test_distribution_point_names_must_match() -> None:
    chain, (leaf, inter, _) = chain_with()
    matching = crl_for(chain.intermediate, extensions=[(idp(CRL_URL), True)])
    assert judge(leaf, inter, matching)[0] is State.GOOD
    other = crl_for(chain.intermediate, extensions=[(idp("http://127.0.0.1:9/other.crl"), True)])
    state, detail = judge(leaf, inter, other)
    assert state is State.UNKNOWN and "other.crl" in detail
    # A certificate naming no distribution point is not covered by a partitioned CRL.
    bare = Chain.clean()
    leaf_bare, inter_bare, _ = (CertFacts.of(c) for c in bare.build())
    assert judge(leaf_bare, inter_bare, matching)[0] is State.UNKNOWN


def test_a_crl_of_some_reasons_cannot_say_good() -> None:
    chain, (leaf, inter, _) = chain_with()
    some = crl_for(chain.intermediate, extensions=[(idp(CRL_URL, reasons=True), True)])
    state, detail = judge(leaf, inter, some)
    assert state is State.UNKNOWN and "onlySomeReasons" in detail
    listed = crl_for(
        chain.intermediate, [serial(chain.leaf)], extensions=[(idp(CRL_URL, reasons=True), True)]
    )
    assert judge(leaf, inter, listed)[0] is State.REVOKED


# The intermediates' revocation, online ------------------------------------------------------


def anchors(root: x509.Certificate) -> TrustAnchors:
    return TrustAnchors([(TrustAnchorSource("crl root", "<test>", 1, CUSTOM), [root])])


def served_chain(base: str) -> Chain:
    """A chain valid now whose leaf and intermediate each name a CRL on the test site."""
    chain = Chain.clean()
    chain.leaf.set(point(f"{base}/issuing.crl"), False)
    chain.intermediate.set(point(f"{base}/root.crl"), False)
    return chain


def online(certs: list[x509.Certificate]) -> Report:
    leaf, inter, root = certs
    return check_chain(
        [leaf, inter], lintcases.HOST, at=lintcases.NOW, anchors=anchors(root), fetch=True
    )


def test_a_revoked_intermediate_is_found_and_named() -> None:
    with httpserver.serving() as site:
        chain = served_chain(site.base)
        certs = chain.build()
        site.routes["/issuing.crl"] = httpserver.static(
            crl_for(chain.intermediate, at=lintcases.NOW)
        )
        site.routes["/root.crl"] = httpserver.static(
            crl_for(chain.root, [serial(chain.intermediate)], at=lintcases.NOW)
        )
        report = online(certs)
        assert report.codes == (C.REVOKED,)
        finding = report.findings[0]
        assert "The intermediate certificate 'Lint Issuing CA' was revoked" in finding.message
        # Identified as the intermediate's, so a leaf's staple does not replace it.
        assert finding.evidence["certificate"] == "intermediate" and not about_leaf(finding)
        assert report.revocation is not None and report.revocation.state == "good"  # the leaf's own
        assert sorted(f.url.rsplit("/", 1)[1] for f in report.fetches) == [
            "issuing.crl",
            "root.crl",
        ]
        # Negative twin: the root's CRL does not list the intermediate.
        site.routes["/root.crl"] = httpserver.static(crl_for(chain.root, at=lintcases.NOW))
        assert online(certs).codes == ()
        # And when the intermediate's CRL cannot be had, that is said, naming it.
        del site.routes["/root.crl"]
        report = online(certs)
        assert report.codes == (C.REVOCATION_UNKNOWN,)
        assert "the intermediate certificate 'Lint Issuing CA'" in report.findings[0].message


# A healthy private-PKI endpoint exits 0 ---------------------------------------------------


def test_a_cert_ca_endpoint_without_pointers_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tlsdoctor cert ca init` + `cert issue`, served by openssl s_server and checked live
    (revocation on, as by default): no pointer is not a finding, the section says why."""
    from servers import s_server

    ca = tmp_path / "ca"
    init = ["cert", "ca", "init", "--name", "Healthy Internal CA", "-o", str(ca)]
    assert main([*init, "--permit", "healthy.test"]) == 0
    assert main(["cert", "issue", "app.healthy.test", "--ca", str(ca), "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    pem, key = tmp_path / "app.healthy.test.pem", tmp_path / "app.healthy.test.key"
    with s_server(pem, key, "-www") as port:
        argv = ["check", f"app.healthy.test:{port}", "--connect", "127.0.0.1",
                "--ca-file", str(ca / "ca.pem"), "--timeout", "10"]  # fmt: skip
        code = main([*argv, "--json"])
        data = json.loads(capsys.readouterr().out)
        assert (code, data["findings"]) == (0, [])
        assert data["revocation"]["state"] == "not_checked"
        assert data["revocation"]["detail"].startswith("not checkable: no pointer")
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert "not checkable: no pointer" in text and "revocation_unknown" not in text


# OpenSSL's CRL checking as an oracle -------------------------------------------------------


def _no_crl_sign(chain: Chain) -> None:
    usage = x509.KeyUsage(True, False, False, False, False, True, False, False, False)
    chain.intermediate.set(usage, True)


UNKNOWN_EXT = x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00")
AT = lintcases.NOW


def _leaf_case(
    change: Callable[[Chain], None] | None = None,
    revoked: bool = False,
    **crl: Sequence[tuple[x509.ExtensionType, bool]],
) -> Callable[[Chain], tuple[CertFacts, CertFacts, bytes, list[bytes]]]:
    """A case judging the leaf against its issuer's CRL (made after ``change``)."""

    def make(chain: Chain) -> tuple[CertFacts, CertFacts, bytes, list[bytes]]:
        if change is not None:
            change(chain)
        leaf, inter, _ = (CertFacts.of(c) for c in chain.build())
        listed = [serial(chain.leaf)] if revoked else []
        data = crl_for(chain.intermediate, listed, at=AT, **crl)  # type: ignore[arg-type]
        return leaf, inter, data, [data]

    return make


def _intermediate_case(
    idp_value: x509.IssuingDistributionPoint, revoked: bool
) -> Callable[[Chain], tuple[CertFacts, CertFacts, bytes, list[bytes]]]:
    """A case judging the intermediate against the root's CRL (the leaf's CRL is good)."""

    def make(chain: Chain) -> tuple[CertFacts, CertFacts, bytes, list[bytes]]:
        _, inter, root = (CertFacts.of(c) for c in chain.build())
        listed = [serial(chain.intermediate)] if revoked else []
        data = crl_for(chain.root, listed, at=AT, extensions=[(idp_value, True)])
        return inter, root, data, [data, crl_for(chain.intermediate, at=AT)]

    return make


OPENSSL_CRL_CASES = {
    "good": (_leaf_case(), State.GOOD),
    "revoked": (_leaf_case(revoked=True), State.REVOKED),
    "issuer without cRLSign": (_leaf_case(_no_crl_sign), State.UNKNOWN),
    "issuer without keyUsage": (
        _leaf_case(lambda ch: ch.intermediate.drop(ExtensionOID.KEY_USAGE)),
        State.GOOD,
    ),
    "unknown critical CRL extension": (
        _leaf_case(extensions=[(UNKNOWN_EXT, True)]),
        State.UNKNOWN,
    ),
    "unknown non-critical CRL extension": (
        _leaf_case(extensions=[(UNKNOWN_EXT, False)]),
        State.GOOD,
    ),
    "unknown critical entry extension": (
        _leaf_case(revoked=True, entry_extensions=[(UNKNOWN_EXT, True)]),
        State.UNKNOWN,
    ),
    "unknown non-critical entry extension": (
        _leaf_case(revoked=True, entry_extensions=[(UNKNOWN_EXT, False)]),
        State.REVOKED,
    ),
    "delta CRL": (_leaf_case(extensions=[(x509.DeltaCRLIndicator(5), True)]), State.UNKNOWN),
    "IDP end entities only": (
        _leaf_case(extensions=[(idp(CRL_URL, users=True), True)]),
        State.GOOD,
    ),
    "IDP CAs only, for the leaf": (
        _leaf_case(extensions=[(idp(CRL_URL, cas=True), True)]),
        State.UNKNOWN,
    ),
    "IDP naming the leaf's distribution point": (
        _leaf_case(extensions=[(idp(CRL_URL), True)]),
        State.GOOD,
    ),
    "IDP naming another distribution point": (
        _leaf_case(extensions=[(idp("http://127.0.0.1:9/other.crl"), True)]),
        State.UNKNOWN,
    ),
    "IDP some reasons, not listed": (
        _leaf_case(extensions=[(idp(CRL_URL, reasons=True), True)]),
        State.UNKNOWN,
    ),
    "IDP some reasons, listed": (
        _leaf_case(revoked=True, extensions=[(idp(CRL_URL, reasons=True), True)]),
        State.REVOKED,
    ),
    "IDP end entities only, for the intermediate": (
        _intermediate_case(idp(users=True), revoked=True),
        State.UNKNOWN,
    ),
    "IDP CAs only, intermediate listed": (_intermediate_case(idp(cas=True), True), State.REVOKED),
    "IDP CAs only, intermediate not listed": (
        _intermediate_case(idp(cas=True), False),
        State.GOOD,
    ),
}


# Where OpenSSL and tlsdoctor differ, and why. RFC 5280 6.3.3 (i) and (k): a certificate
# listed on a CRL of some reasons only is revoked ("cert_status is not UNREVOKED: return");
# OpenSSL uses a CRL only once the reasons of the CRLs it has cover all reasons.
OPENSSL_CRL_DIFFERENCES = ["IDP some reasons, listed: openssl unknown, tlsdoctor revoked"]


def _openssl_crl_state(chain: Chain, crls: list[bytes], folder: Path) -> State:
    leaf, inter, root = chain.build()
    files = {}
    for name, cert in (("leaf", leaf), ("inter", inter), ("root", root)):
        files[name] = folder / f"{name}.pem"
        files[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    crl_file = folder / "crls.pem"
    crl_file.write_bytes(
        b"".join(
            x509.load_der_x509_crl(data).public_bytes(serialization.Encoding.PEM) for data in crls
        )
    )
    import subprocess

    done = subprocess.run(
        ["openssl", "verify", "-attime", str(int(AT.timestamp())), "-crl_check_all",
         "-CRLfile", str(crl_file), "-CAfile", str(files["root"]), "-untrusted",
         str(files["inter"]), str(files["leaf"])],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if done.returncode == 0:
        return State.GOOD
    return State.REVOKED if "certificate revoked" in done.stdout + done.stderr else State.UNKNOWN


def test_openssl_crl_oracle(tmp_path: Path) -> None:
    """tlsdoctor's judgement of each CRL case, against `openssl verify -crl_check_all` on
    the same chain and CRLs (OpenSSL 3.0 implements RFC 5280 6.3)."""
    agree, differences = 0, []
    for name, (make, expected) in OPENSSL_CRL_CASES.items():
        chain = Chain.clean()
        chain.leaf.set(point(CRL_URL), False)
        subject, issuer, data, crls = make(chain)
        ours = judge_crl(subject, issuer, data, AT, "crl", name).state
        assert ours is expected, (name, judge_crl(subject, issuer, data, AT, "crl", name))
        # OpenSSL needs every certificate's CRL: a leaf case's intermediate gets a good one.
        if len(crls) == 1:
            crls = [*crls, crl_for(chain.root, at=AT)]
        theirs = _openssl_crl_state(chain, crls, tmp_path)
        if theirs is ours:
            agree += 1
        else:
            differences.append(f"{name}: openssl {theirs.value}, tlsdoctor {ours.value}")
    print(f"\nopenssl verify -crl_check_all agrees on {agree}/{len(OPENSSL_CRL_CASES)} CRL cases")
    print("\n".join(differences))
    assert differences == OPENSSL_CRL_DIFFERENCES
