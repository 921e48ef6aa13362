"""Revocation (CRL first, then OCSP) and AIA, against CRLs, OCSP responders and AIA
documents served over loopback HTTP, and as offline files."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

import httpserver
from conftest import anchors_of
from pki import DAY, Issued, make_root
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.revocation import State, judge_crl, judge_ocsp
from tlsdoctor.check import check_chain
from tlsdoctor.cli.main import main
from tlsdoctor.codes import FindingCode as C

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
HOUR = dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def ca() -> tuple[Issued, Issued]:
    root = make_root("Revocation Root", not_before=NOW - 3650 * DAY, not_after=NOW + 3650 * DAY)
    issuing = root.issue_ca(
        "Revocation Issuing CA", not_before=NOW - 365 * DAY, not_after=NOW + 365 * DAY
    )
    return root, issuing


def leaf(issuing: Issued, **pointers: str) -> Issued:
    return issuing.issue_leaf(
        ["www.rev.test"], not_before=NOW - DAY, not_after=NOW + 60 * DAY, **pointers
    )


def crl(
    issuer: Issued,
    revoked: list[int],
    *,
    this: dt.datetime = NOW - HOUR,
    next_: dt.datetime = NOW + 7 * DAY,
    signer: Issued | None = None,
) -> bytes:
    entries = [
        x509.RevokedCertificateBuilder()
        .serial_number(serial)
        .revocation_date(NOW - 2 * HOUR)
        .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), False)
        .build()
        for serial in revoked
    ]
    builder = (
        x509.CertificateRevocationListBuilder(revoked_certificates=entries)
        .issuer_name(issuer.name)
        .last_update(this)
        .next_update(next_)
    )
    return builder.sign((signer or issuer).key, hashes.SHA256()).public_bytes(
        serialization.Encoding.DER
    )


def ocsp_answer(
    cert: Issued,
    issuer: Issued,
    status: ocsp.OCSPCertStatus,
    *,
    responder: Issued | None = None,
    next_: dt.datetime = NOW + DAY,
    nonce: bytes | None = None,
) -> bytes:
    signer = responder or issuer
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert.cert,
            issuer=issuer.cert,
            algorithm=hashes.SHA1(),
            cert_status=status,
            this_update=NOW - HOUR,
            next_update=next_,
            revocation_time=NOW - 2 * HOUR if status == ocsp.OCSPCertStatus.REVOKED else None,
            revocation_reason=x509.ReasonFlags.key_compromise
            if status == ocsp.OCSPCertStatus.REVOKED
            else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
    )
    if responder is not None:
        builder = builder.certificates([responder.cert])
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), False)
    return builder.sign(signer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def facts(*issued: Issued) -> list[CertFacts]:
    return [CertFacts.of(i.cert) for i in issued]


# Pure judging ----------------------------------------------------------------------------


def test_crl_good_revoked_stale_forged_and_garbage(ca: tuple[Issued, Issued]) -> None:
    _, issuing = ca
    good, bad = leaf(issuing), leaf(issuing)
    g, b, i = facts(good, bad, issuing)
    data = crl(issuing, [bad.cert.serial_number])
    assert judge_crl(g, i, data, NOW, "crl", "u").state is State.GOOD
    revoked = judge_crl(b, i, data, NOW, "crl", "u")
    assert (revoked.state, revoked.reason) == (State.REVOKED, "key_compromise")
    stale = judge_crl(
        b, i, crl(issuing, [bad.cert.serial_number], next_=NOW - HOUR), NOW, "crl", "u"
    )
    assert stale.state is State.UNKNOWN and "stale" in stale.detail
    other = make_root("Forger")
    forged = judge_crl(b, i, crl(issuing, [], signer=other), NOW, "crl", "u")
    assert forged.state is State.UNKNOWN and "signature does not verify" in forged.detail
    garbage = judge_crl(b, i, b"\x30\x03garbage", NOW, "crl", "u")
    assert garbage.state is State.UNKNOWN and "cannot be parsed" in garbage.detail


def test_ocsp_statuses_signatures_and_delegation(ca: tuple[Issued, Issued]) -> None:
    _, issuing = ca
    cert = leaf(issuing)
    c, i = facts(cert, issuing)
    for status, state in [
        (ocsp.OCSPCertStatus.GOOD, State.GOOD),
        (ocsp.OCSPCertStatus.REVOKED, State.REVOKED),
        (ocsp.OCSPCertStatus.UNKNOWN, State.UNKNOWN),
    ]:
        assert (
            judge_ocsp(c, i, ocsp_answer(cert, issuing, status), NOW, "ocsp", "u", None).state
            is state
        )
    delegated = issuing.issue_ca("OCSP Responder", ca=False, eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
    answer = ocsp_answer(cert, issuing, ocsp.OCSPCertStatus.REVOKED, responder=delegated)
    assert judge_ocsp(c, i, answer, NOW, "ocsp", "u", None).state is State.REVOKED
    rogue = make_root("Rogue Responder").issue_ca(
        "Rogue", ca=False, eku=[ExtendedKeyUsageOID.OCSP_SIGNING]
    )
    answer = ocsp_answer(cert, issuing, ocsp.OCSPCertStatus.REVOKED, responder=rogue)
    assert "neither by the issuer" in judge_ocsp(c, i, answer, NOW, "ocsp", "u", None).detail
    stale = ocsp_answer(cert, issuing, ocsp.OCSPCertStatus.GOOD, next_=NOW - HOUR)
    assert "stale" in judge_ocsp(c, i, stale, NOW, "ocsp", "u", None).detail
    nonce = ocsp_answer(cert, issuing, ocsp.OCSPCertStatus.GOOD, nonce=b"a" * 16)
    assert "nonce" in judge_ocsp(c, i, nonce, NOW, "ocsp", "u", b"b" * 16).detail


def test_crl_of_100000_entries(ca: tuple[Issued, Issued]) -> None:
    """A CRL of 100,000 entries: the lookup (parse + signature + search) is reported."""
    _, issuing = ca
    cert = leaf(issuing)
    data = crl(issuing, [*range(10**9, 10**9 + 99_999), cert.cert.serial_number])
    started = time.perf_counter()
    judged = judge_crl(*facts(cert, issuing), data, NOW, "crl", "big")
    elapsed = time.perf_counter() - started
    assert judged.state is State.REVOKED
    print(f"\n100,000-entry CRL ({len(data) // 1024} KiB): judged in {elapsed * 1000:.0f} ms")


# Online, over loopback ---------------------------------------------------------------------


def report_for(chain: list[Issued], root: Issued, **kwargs: object) -> object:
    return check_chain(
        [i.cert for i in chain], "www.rev.test", anchors=anchors_of(root), fetch=True, **kwargs
    )


def test_crl_first_then_ocsp_online(ca: tuple[Issued, Issued]) -> None:
    root, issuing = ca
    with httpserver.serving() as site:
        good = leaf(issuing, crl_url=f"{site.base}/issuing.crl", ocsp_url=f"{site.base}/ocsp")
        bad = leaf(issuing, crl_url=f"{site.base}/issuing.crl", ocsp_url=f"{site.base}/ocsp")
        site.routes["/issuing.crl"] = httpserver.static(crl(issuing, [bad.cert.serial_number]))
        report = report_for([good, issuing], root)
        assert report.revocation is not None and report.revocation.state == "good"
        assert report.revocation.source == "crl"
        revoked = report_for([bad, issuing], root)
        assert revoked.codes == (C.REVOKED,)
        assert revoked.findings[0].evidence["reason"] == "key_compromise"
        assert "/ocsp" not in site.hits  # the CRL answered: no OCSP request
        assert [f.purpose for f in revoked.fetches] == ["crl"]


@pytest.mark.parametrize(
    ("route", "expect"),
    [
        (None, "HTTP 404"),
        ("slow", "no answer within"),
        ("endless", "larger than"),
        ("loop", "redirect loop"),
        ("garbage", "cannot be parsed"),
    ],
)
def test_crl_trouble_makes_ocsp_decide_or_unknown(
    ca: tuple[Issued, Issued], route: str | None, expect: str
) -> None:
    root, issuing = ca
    with httpserver.serving() as site:
        routes, base = site.routes, site.base
        cert = leaf(issuing, crl_url=f"{base}/c.crl", ocsp_url=f"{base}/ocsp")
        if route == "slow":
            routes["/c.crl"] = httpserver.slow(8)
        elif route == "endless":
            routes["/c.crl"] = httpserver.endless()
        elif route == "loop":
            routes["/c.crl"] = httpserver.redirect(f"{base}/d.crl")
            routes["/d.crl"] = httpserver.redirect(f"{base}/c.crl")
        elif route == "garbage":
            routes["/c.crl"] = httpserver.static(b"\x00not a crl at all")
        report = report_for([cert, issuing], root)
        assert report.codes == (C.REVOCATION_UNKNOWN,)
        assert expect in report.findings[0].message
        # Now an OCSP responder that answers: it decides.
        routes["/ocsp"] = httpserver.answer(
            lambda _: ocsp_answer(cert, issuing, ocsp.OCSPCertStatus.REVOKED),
            "application/ocsp-response",
        )
        report = report_for([cert, issuing], root)
        assert report.codes == (C.REVOKED,)
        assert report.revocation is not None and report.revocation.source == "ocsp"


def test_responder_down_and_no_pointers(ca: tuple[Issued, Issued]) -> None:
    root, issuing = ca
    cert = leaf(issuing, ocsp_url="http://127.0.0.1:9/ocsp")
    report = report_for([cert, issuing], root)
    assert report.codes == (C.REVOCATION_UNKNOWN,)
    assert "soft_fail" in report.findings[0].evidence
    # No pointer at all: nothing to check, not a finding, and the status says why.
    bare = leaf(issuing)
    report = report_for([bare, issuing], root)
    assert report.codes == ()
    assert report.revocation is not None and report.revocation.state == "not_checked"
    assert report.revocation.detail.startswith("not checkable: no pointer")


def test_aia_repairs_a_missing_intermediate(ca: tuple[Issued, Issued]) -> None:
    root, _ = ca
    with httpserver.serving() as site:
        issuing = root.issue_ca("AIA Issuing CA", not_before=NOW - DAY, not_after=NOW + 365 * DAY)
        site.routes["/issuing.der"] = httpserver.static(
            issuing.cert.public_bytes(serialization.Encoding.DER), "application/pkix-cert"
        )
        cert = leaf(issuing, aia_url=f"{site.base}/issuing.der")
        report = report_for([cert], root, check_revocation=False)
        assert report.codes == (C.MISSING_INTERMEDIATE,)
        finding = report.findings[0]
        assert finding.evidence["repaired_by_aia"] is True
        assert finding.evidence["fetched"][0]["subject"] == "CN=AIA Issuing CA,O=tlsdoctor tests"  # type: ignore[index]
        assert "reaches the trusted root 'Revocation Root'" in finding.message
        assert [c.role for c in report.path] == ["leaf", "intermediate", "root"]
        assert report.fetches[0].purpose == "aia" and report.fetches[0].status == 200
        chrome = next(c for c in report.clients if c.client == "chrome")
        curl = next(c for c in report.clients if c.client == "curl")
        assert (chrome.trusted, curl.trusted) == (True, False)


@pytest.mark.parametrize(
    ("make_url", "expect"),
    [
        (lambda base: "file:///etc/ssl/certs/ca-certificates.crt", "refusing the file:// scheme"),
        (lambda base: f"{base}/self.der", "leads back to a certificate already in the chain"),
        (lambda base: f"{base}/huge", "larger than"),
        (lambda base: f"{base}/garbage", "holds no certificate"),
    ],
)
def test_hostile_aia(
    ca: tuple[Issued, Issued], make_url: Callable[[str], str], expect: str
) -> None:
    root, issuing = ca
    with httpserver.serving() as site:
        cert = leaf(issuing, aia_url=make_url(site.base))
        routes = site.routes
        routes["/self.der"] = httpserver.static(cert.cert.public_bytes(serialization.Encoding.DER))
        routes["/huge"] = httpserver.endless()
        routes["/garbage"] = httpserver.static(b"\x01\x02garbage")
        report = report_for([cert], root, check_revocation=False)
    assert report.codes[0] in (C.MISSING_INTERMEDIATE, C.UNTRUSTED_ROOT)
    problems = " ".join(map(str, report.findings[0].evidence.get("aia_problems", [])))  # type: ignore[call-overload]
    assert expect in problems, report.findings[0].evidence


# Offline evidence files ---------------------------------------------------------------------


def test_offline_crl_and_ocsp_files(
    ca: tuple[Issued, Issued], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, issuing = ca
    cert = leaf(issuing)
    files = {
        "leaf.pem": cert.pem(),
        "issuing.pem": issuing.pem(),
        "root.pem": root.pem(),
        "revoked.crl": crl(issuing, [cert.cert.serial_number]),
        "empty.crl": crl(issuing, []),
        "revoked.ocsp": ocsp_answer(cert, issuing, ocsp.OCSPCertStatus.REVOKED),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    base = [
        "check",
        "--chain",
        str(tmp_path / "leaf.pem"),
        "--chain",
        str(tmp_path / "issuing.pem"),
        "--ca-file",
        str(tmp_path / "root.pem"),
        "--json",
    ]
    assert main([*base, "--crl", str(tmp_path / "revoked.crl")]) == 2
    data = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in data["findings"]] == ["revoked"]
    assert data["revocation"]["source"] == "crl-file"
    assert data["fetches"] == []
    assert main([*base, "--crl", str(tmp_path / "empty.crl")]) == 0
    assert json.loads(capsys.readouterr().out)["revocation"]["state"] == "good"
    assert main([*base, "--ocsp-response", str(tmp_path / "revoked.ocsp")]) == 2
    assert json.loads(capsys.readouterr().out)["revocation"]["source"] == "ocsp-file"
    assert main([*base, "--ocsp-response", str(tmp_path / "revoked.ocsp"), "--no-revocation"]) == 0
    capsys.readouterr()


def test_stapled_ocsp_response(
    ca: tuple[Issued, Issued], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server staples a 'revoked' OCSP response while the responder itself is down:
    the staple decides (a handshake with pyOpenSSL asks for it)."""
    import servers

    root, issuing = ca
    cert = leaf(issuing, ocsp_url="http://127.0.0.1:9/ocsp")
    for name, data in {
        "leaf.pem": cert.pem(),
        "leaf.key": cert.key_pem(),
        "chain.pem": issuing.pem(),
        "root.pem": root.pem(),
        "staple.der": ocsp_answer(cert, issuing, ocsp.OCSPCertStatus.REVOKED),
    }.items():
        (tmp_path / name).write_bytes(data)

    def checking(port: int) -> list[str]:
        return ["check", f"www.rev.test:{port}", "--connect", "127.0.0.1",
                "--ca-file", str(tmp_path / "root.pem"), "--json", "--timeout", "10"]  # fmt: skip

    with servers.s_server(
        tmp_path / "leaf.pem",
        tmp_path / "leaf.key",
        "-www",
        "-status_file",
        str(tmp_path / "staple.der"),
        chain=tmp_path / "chain.pem",
    ) as port:
        code = main(checking(port))
    data = json.loads(capsys.readouterr().out)
    assert code == 2
    assert [f["code"] for f in data["findings"]] == ["revoked"]
    assert data["revocation"]["source"] == "stapled"
    assert "staples" in data["findings"][0]["message"]
    # The responder was tried first, and failed: that is in the report too.
    assert [f["purpose"] for f in data["fetches"]] == ["ocsp"]
    assert data["fetches"][0]["error"] is not None
    # Negative control: the same server without a staple leaves revocation unknown.
    with servers.s_server(
        tmp_path / "leaf.pem", tmp_path / "leaf.key", "-www", chain=tmp_path / "chain.pem"
    ) as port:
        code = main(checking(port))
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [f["code"] for f in data["findings"]] == ["revocation_unknown"]
