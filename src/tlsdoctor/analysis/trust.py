"""Why a path does or does not reach a trusted root, told apart precisely.

``self_signed``: the leaf vouches for itself. ``untrusted_root``: the path ends in a root
(sent, or named by the last certificate) that the store does not hold.
``missing_intermediate``: the server left out a CA certificate a client needs, usually one
it could download from the AIA URL. ``known_bad_root`` and ``interception_proxy`` name the
root when it is one of those. A bad signature between certificates with matching names is
``invalid_chain``. The messages never say "chain incomplete" when the root is merely unknown.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

from tlsdoctor.analysis.anchorset import TrustAnchors
from tlsdoctor.analysis.constraints import invalid_chain
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.path import ChainPath, PathEnd, RejectReason
from tlsdoctor.analysis.roles import cert_evidence, sentence_label
from tlsdoctor.codes import FindingCode, Severity
from tlsdoctor.knowledge import InterceptionCatalogue, KnownBadRoots
from tlsdoctor.models import Finding, JsonValue

_PRIVATE_WORDS = re.compile(
    r"\b(internal|intranet|corp|corporate|private|enterprise|local|localhost|lan|dev|"
    r"development|test|testing|lab|home|ad|mkcert|example|acme)\b",
    re.IGNORECASE,
)
_ROOT_WORDS = re.compile(r"\broot\b", re.IGNORECASE)


def trust_findings(
    path: ChainPath,
    anchors: TrustAnchors,
    public_roots: TrustAnchors,
    known_bad: KnownBadRoots,
    products: InterceptionCatalogue,
) -> list[Finding]:
    """Findings about the path's anchor: known-bad, interception, or why none was reached."""
    bad = _known_bad_finding(path, known_bad)
    if bad is not None:
        return [bad]
    anchored_publicly = path.anchor is not None and public_roots.matching(path.last) is not None
    if not anchored_publicly:
        proxy = _interception_finding(path, products)
        if proxy is not None:
            return [proxy]
    if path.end is PathEnd.ANCHOR:
        return []
    if path.end is PathEnd.SELF_SIGNED_LEAF:
        return [_self_signed(path.leaf)]
    if path.end is PathEnd.UNTRUSTED_ROOT:
        return [_untrusted_root_sent(path, anchors, public_roots)]
    if path.end is PathEnd.TOO_DEEP:
        return [
            invalid_chain(
                "path_too_long",
                f"No trusted root within {len(path.certs)} certificates: the chain is too long "
                "to be verified.",
                None,
                path.certs,
                ("Serve only the leaf and its one or two intermediates.",),
                intermediates=len(path.certs) - 1,
            )
        ]
    return [_missing_issuer(path, anchors, public_roots)]


def _known_bad_finding(path: ChainPath, known_bad: KnownBadRoots) -> Finding | None:
    root = None
    for facts in path.certs:
        root = known_bad.matching(facts)
        if root is not None:
            break
    if root is None and path.end is not PathEnd.ANCHOR:
        root = known_bad.issuer_of(path.last)
    if root is None:
        return None
    trusted_here = path.anchor is not None and known_bad.matching(path.anchor.facts) is root
    message = (
        f"The chain is anchored in '{root.facts.display_name}' ({root.name}), a root whose "
        f"private key is public: anyone can impersonate any site to a machine that trusts it."
    )
    if trusted_here:
        message += " The trust store in use trusts it: remove it now."
    return Finding(
        FindingCode.KNOWN_BAD_ROOT,
        Severity.ERROR,
        message,
        {
            "root": root.facts.subject_text,
            "root_sha256": root.facts.sha256,
            "known_as": root.name,
            "id": root.id,
            "why": root.why,
            "in_trust_store": trusted_here,
        },
        (
            f"Remove '{root.facts.display_name}' from every trust store on the machine "
            f"(`tlsdoctor trust remove`, or certmgr.msc on Windows), and uninstall the software "
            "that installed it.",
            "Then reissue the server certificate from a legitimate CA.",
        ),
    )


def _interception_finding(path: ChainPath, products: InterceptionCatalogue) -> Finding | None:
    ca_names = [facts.issuer_text for facts in path.certs]
    ca_names.append(path.last.subject_text)
    for matched in ca_names:
        product = products.product_for(matched)
        if product is None:
            continue
        trusted = path.end is PathEnd.ANCHOR
        message = (
            f"The certificate was issued by '{matched}', the CA of {product.product} "
            f"({product.kind}), not by the site's real CA: the connection is being decrypted "
            "and re-signed on the way."
        )
        if trusted:
            message += (
                " This trust store holds that CA, so clients reading it work; clients with "
                "their own store (Python requests, Node, Java, Firefox) do not."
            )
        return Finding(
            FindingCode.INTERCEPTION_PROXY,
            Severity.WARNING if trusted else Severity.ERROR,
            message,
            {
                "product": product.product,
                "product_id": product.id,
                "kind": product.kind,
                "issuer": matched,
                "in_trust_store": trusted,
            },
            (
                f"Export {product.product}'s root CA (from IT, or from the OS store where it is "
                "installed) and add it to the trust store your client reads: "
                "`tlsdoctor trust add proxy-root.pem`.",
                "For one tool: Python requests REQUESTS_CA_BUNDLE, Node NODE_EXTRA_CA_CERTS, "
                "curl --cacert, Java `keytool -importcert -cacerts`, git http.sslCAInfo.",
                TRUST_FIND_HINT,
                "Or ask IT to exempt this host from TLS inspection.",
            ),
        )
    return None


def _self_signed(leaf: CertFacts) -> Finding:
    return Finding(
        FindingCode.SELF_SIGNED,
        Severity.ERROR,
        f"The certificate '{leaf.display_name}' is self-signed: it vouches for itself, and the "
        "trust store does not hold it.",
        {
            "certificate": "leaf",
            "subject": leaf.subject_text,
            "sha256": leaf.sha256,
        },
        (
            "For a public site, get a certificate from a public CA (Let's Encrypt: "
            "`certbot --nginx -d example.com -d www.example.com`).",
            "For an internal service, issue it from an internal CA (`tlsdoctor cert ca init`) "
            "and add that CA to clients' trust stores (`tlsdoctor trust add`).",
            "To trust exactly this certificate (pinning, a lab), pass it with --ca-file.",
            DO_NOT_DISABLE,
        ),
    )


def _untrusted_root_sent(
    path: ChainPath, anchors: TrustAnchors, public_roots: TrustAnchors
) -> Finding:
    root = path.last
    evidence: dict[str, JsonValue] = cert_evidence(root, path.certs)
    evidence["root"] = root.subject_text
    evidence["root_presented"] = True
    signals, private = _private_ca_signals(root.cert.subject, root, public_roots)
    evidence["private_ca"] = private
    evidence["private_ca_signals"] = signals
    kind = _kind_phrase(private)
    local_fix = _local_ca_fix(root.cert.subject, evidence)
    return Finding(
        FindingCode.UNTRUSTED_ROOT,
        Severity.ERROR,
        f"The chain ends in the root '{root.display_name}', which the server sends but the "
        f"trust store ({_store_names(anchors)}) does not hold; it looks like {kind}.",
        evidence,
        local_fix + _untrusted_root_fix(root.display_name, private),
    )


def _missing_issuer(path: ChainPath, anchors: TrustAnchors, public_roots: TrustAnchors) -> Finding:
    last = path.last
    bad_signature = [
        r for r in path.rejections if r.child is last and r.reason is RejectReason.BAD_SIGNATURE
    ]
    if bad_signature:
        rejected = bad_signature[0].candidate
        where = "in the trust store" if bad_signature[0].from_store else "sent with it"
        return invalid_chain(
            "bad_signature",
            f"{sentence_label(last, path.certs)} names '{rejected.display_name}' as its "
            "issuer, but the signature does not verify with the key of the "
            f"'{rejected.display_name}' {where}: the chain mixes certificates of different "
            "issuances, or one was altered.",
            last,
            path.certs,
            (
                "Download the intermediate that belongs to this certificate from your CA (its "
                "AIA URL names it) and serve that one.",
            ),
            issuer_candidate=rejected.subject_text,
            issuer_candidate_sha256=rejected.sha256,
        )
    loop = _loop_finding(path, anchors)
    if loop is not None:
        return loop
    wrong_version = [
        r for r in path.rejections if r.child is last and r.reason is RejectReason.KEY_ID_MISMATCH
    ]
    issuer_name = last.cert.issuer
    signals, private = _private_ca_signals(issuer_name, None, public_roots)
    leaf_only = len(path.certs) == 1
    looks_like_root = bool(_ROOT_WORDS.search(last.issuer_display_name))
    # A missing issuer named like a root is that root, not an intermediate of its CA; a
    # public CA's organisation is left to the AIA and public-root signals.
    family = (
        None
        if looks_like_root or private is False
        else _same_private_family(issuer_name, anchors, public_roots)
    )
    if family is not None:
        signals.append(
            f"it belongs to the same CA as the trusted root '{family.display_name}' "
            "(same organisation) in the store in use"
        )
        private = True
    missing = (
        bool(wrong_version)
        or family is not None
        or (bool(last.ca_issuer_urls) and (leaf_only or not looks_like_root))
    )
    evidence: dict[str, JsonValue] = cert_evidence(last, path.certs)
    evidence["missing_issuer"] = last.issuer_text
    evidence["aia_url"] = last.ca_issuer_urls[0] if last.ca_issuer_urls else None
    evidence["aia_urls"] = list(last.ca_issuer_urls)
    evidence["private_ca"] = private
    evidence["private_ca_signals"] = signals
    issuer = last.issuer_display_name
    if missing:
        evidence["issuer_is_public_ca"] = private is False
        if family is not None:
            evidence["same_ca_as_root"] = family.subject_text
        if wrong_version:
            evidence["wrong_intermediate_sent"] = wrong_version[0].candidate.sha256
        if wrong_version:
            message = (
                f"The server sends a certificate named '{issuer}', but not the one that signed "
                f"'{last.display_name}' (its key identifier differs): a stale intermediate, "
                f"and the right '{issuer}' is missing."
            )
        elif leaf_only:
            message = (
                f"The server sends only its own certificate; the issuing CA '{issuer}' is missing."
            )
        else:
            message = (
                f"The server sends the chain up to '{last.display_name}'; the issuing CA "
                f"'{issuer}' is missing."
            )
        message += (
            " Browsers fetch it themselves; curl, Python, Java, Node and Go do not, so they fail."
        )
        if family is not None:
            message += (
                f" '{issuer}' is an intermediate of the private CA whose root "
                f"'{family.display_name}' the trust store holds: send it with the chain."
            )
        elif private:
            message += f" '{issuer}' looks like a private CA: clients will also need its root."
        fix = [
            f"Configure the server to send the full chain: the certificate followed by "
            f"'{issuer}'"
            + (f" (download it: {last.ca_issuer_urls[0]})" if last.ca_issuer_urls else "")
            + ".",
            "nginx: ssl_certificate fullchain.pem; Apache >= 2.4.8: SSLCertificateFile with the "
            "chain appended; certbot users: point at fullchain.pem, not cert.pem.",
        ]
        return Finding(
            FindingCode.MISSING_INTERMEDIATE, Severity.ERROR, message, evidence, tuple(fix)
        )
    evidence["root"] = last.issuer_text
    evidence["root_presented"] = False
    kind = _kind_phrase(private)
    message = (
        f"{sentence_label(last, path.certs)} is issued by '{issuer}', which is neither "
        f"sent by the server nor held by the trust store ({_store_names(anchors)}); it looks "
        f"like {kind}."
    )
    if not looks_like_root:
        message += f" If '{issuer}' is an intermediate, the server must also send it."
    local_fix = _local_ca_fix(last.cert.issuer, evidence)
    return Finding(
        FindingCode.UNTRUSTED_ROOT,
        Severity.ERROR,
        message,
        evidence,
        local_fix + _untrusted_root_fix(issuer, private),
    )


def _same_private_family(
    issuer: x509.Name, anchors: TrustAnchors, public_roots: TrustAnchors
) -> CertFacts | None:
    """A root of the store in use, not a public one, run by the same organisation as the
    missing ``issuer`` (a corporate CA's intermediate, while the store holds its root)."""
    organizations = {org.casefold() for org in _organizations(issuer)}
    if not organizations & anchors.organizations:  # one set lookup in the common case
        return None
    for anchor in anchors.anchors.values():
        facts = anchor.facts
        if public_roots.matching(facts) is not None:
            continue
        if organizations & {org.casefold() for org in _organizations(facts.cert.subject)}:
            return facts
    return None


def _loop_finding(path: ChainPath, anchors: TrustAnchors) -> Finding | None:
    """The path stopped because the issuer of its last certificate is already in it:
    A signs B signs A. Named as a loop, never as an issuer "neither sent nor held"."""
    last = path.last
    if not path.loop:
        return None
    looped = [facts for facts in path.certs if facts.subject_key == last.issuer_key]
    if not looped:
        return None
    start = path.certs.index(looped[0])
    cycle = [facts.display_name for facts in path.certs[start:]] + [looped[0].display_name]
    evidence: dict[str, JsonValue] = cert_evidence(last, path.certs)
    evidence["root"] = None
    evidence["root_presented"] = False
    evidence["loop"] = list[JsonValue](cycle)
    evidence["missing_issuer"] = last.issuer_text
    return Finding(
        FindingCode.UNTRUSTED_ROOT,
        Severity.ERROR,
        "The chain loops: " + " is issued by ".join(f"'{name}'" for name in cycle) + ". "
        "No certificate leads out of the loop to a root the trust store "
        f"({_store_names(anchors)}) holds, so clients cannot build a path.",
        evidence,
        (
            "Send the chain that ends in the root: the leaf, then each intermediate as "
            "issued by a trusted root, without the cross-certificates that point back.",
            TRUST_FIND_HINT,
        ),
    )


# Where a report could not look at this machine's stores itself (a scan, the library);
# the CLI's single checks replace it with what the stores say (stores/lookup.py).
TRUST_FIND_HINT = (
    "`tlsdoctor trust find HOST` shows which stores on this machine already hold it (often "
    "the OS store does and Python's certifi or Java does not); --save exports it for "
    "`trust add`."
)

# Said wherever a "quick fix" people find online would switch verification off.
DO_NOT_DISABLE = (
    "Do not switch verification off (curl -k, verify=False, NODE_TLS_REJECT_UNAUTHORIZED=0, "
    "git http.sslVerify=false): that removes the protection TLS exists for, for every site."
)


# The organisation of every root `tlsdoctor cert ca init` makes (certs/ca.py), so that a
# check can tell its user which file to trust.
LOCAL_CA_ORGANIZATION = "tlsdoctor local CA"


def _local_ca_fix(issuer: x509.Name, evidence: dict[str, JsonValue]) -> tuple[str, ...]:
    """For a root made by ``tlsdoctor cert ca init``: mark the evidence, say which file."""
    organizations = issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if not any(a.value == LOCAL_CA_ORGANIZATION for a in organizations):
        return ()
    evidence["tlsdoctor_local_ca"] = True
    return (
        "This root was made by `tlsdoctor cert ca init`: trust its ca.pem (by default "
        "~/.local/share/tlsdoctor/ca/ca.pem on the machine that made it) with "
        "`tlsdoctor trust add ca.pem`; copy ca.pem, never ca.key, to other machines.",
    )


def _untrusted_root_fix(name: str, private: bool | None) -> tuple[str, ...]:
    if private is not False:
        return (
            f"If you run '{name}' (an internal CA), add its root certificate to the trust "
            "store of every client that connects: `tlsdoctor trust add root.pem`, or per tool "
            "(Python requests REQUESTS_CA_BUNDLE, Python ssl SSL_CERT_FILE, Node "
            "NODE_EXTRA_CA_CERTS, curl --cacert, Java `keytool -importcert -cacerts`, git "
            "http.sslCAInfo; macOS `security add-trusted-cert -d -r trustRoot -k "
            "/Library/Keychains/System.keychain root.pem` or Keychain Access > System > "
            "import > Trust: Always Trust; Windows `certutil -addstore -f Root root.cer` or "
            "mmc > Certificates (Local Computer) > Trusted Root Certification Authorities > "
            "Import).",
            TRUST_FIND_HINT,
            "For a public site, use a certificate from a public CA instead.",
            DO_NOT_DISABLE,
        )
    return (
        f"The trust store lacks '{name}': update it (Debian/Ubuntu: "
        "`apt install --only-upgrade ca-certificates`; RHEL: `dnf update ca-certificates`; "
        "Python: `pip install -U certifi`; Windows and macOS: install the system updates; "
        "browsers: update the browser).",
        "If the root was removed from the store (distrusted), move to a certificate from a "
        "CA that is trusted today.",
    )


def _store_names(anchors: TrustAnchors) -> str:
    return ", ".join(source.name for source in anchors.sources)


def _organizations(name: x509.Name) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def _private_ca_signals(
    name: x509.Name, facts: CertFacts | None, public_roots: TrustAnchors
) -> tuple[list[JsonValue], bool | None]:
    """Why a CA looks private/corporate or public: (signals, verdict), where the verdict
    is None when nothing points either way (a retired public root looks like that)."""
    signals: list[JsonValue] = []
    organizations = _organizations(name)
    public_org = any(org.casefold() in public_roots.organizations for org in organizations)
    private = False
    if organizations and public_org:
        signals.append(f"its organisation '{organizations[0]}' runs roots in Mozilla's store")
    elif organizations:
        signals.append(f"its organisation '{organizations[0]}' runs no root in Mozilla's store")
    else:
        signals.append("it names no organisation, as public CAs always do")
        private = True
    if name.get_attributes_for_oid(NameOID.DOMAIN_COMPONENT):
        signals.append("its name has DC= parts, as Active Directory Certificate Services uses")
        private = True
    word = _PRIVATE_WORDS.search(name.rfc4514_string())
    if word:
        signals.append(f"its name contains '{word.group(0)}'")
        private = True
    if facts is not None and not facts.crl_urls and not facts.ocsp_urls:
        signals.append("it publishes no CRL or OCSP address")
    if public_org:
        return signals, False
    return signals, True if private else None


def _kind_phrase(private: bool | None) -> str:
    if private is None:
        return (
            "a CA that is neither clearly private nor in Mozilla's store (a retired public root?)"
        )
    return "a private or corporate CA" if private else "a public CA's root"


def fetched_intermediates_finding(
    path: ChainPath, sent: set[str] | frozenset[str], public_roots: TrustAnchors
) -> Finding | None:
    """missing_intermediate for the issuers the path took from AIA, not from the server."""
    end = len(path.certs) - 1 if path.anchor is not None else len(path.certs)
    fetched = [
        (index, facts)
        for index, facts in enumerate(path.certs[:end])
        if index > 0 and facts.sha256 not in sent
    ]
    if not fetched:
        return None
    index, first = fetched[0]
    child = path.certs[index - 1]
    _, private = _private_ca_signals(first.cert.subject, first, public_roots)
    names = ", ".join(f"'{facts.display_name}'" for _, facts in fetched)
    if path.trusted:
        outcome = f"with it the chain reaches the trusted root '{path.last.display_name}'"
    else:
        outcome = "but the chain still does not reach a trusted root (see the other findings)"
    evidence = cert_evidence(child, path.certs)
    evidence.update(
        {
            "missing_issuer": first.subject_text,
            "aia_url": child.ca_issuer_urls[0] if child.ca_issuer_urls else None,
            "aia_urls": list(child.ca_issuer_urls),
            "repaired_by_aia": path.trusted,
            "fetched": [
                {"subject": facts.subject_text, "sha256": facts.sha256} for _, facts in fetched
            ],
            "private_ca": private,
            "issuer_is_public_ca": private is False,
        }
    )
    return Finding(
        FindingCode.MISSING_INTERMEDIATE,
        Severity.ERROR,
        f"The server does not send {names}; tlsdoctor fetched it through the AIA URL of "
        f"'{child.display_name}', and {outcome}. Browsers fetch it too; curl, Python, Java, "
        "Node and Go do not, so they fail.",
        evidence,
        (
            f"Configure the server to send the full chain: the certificate followed by {names} "
            "(`tlsdoctor fix chain` writes it).",
            "nginx: ssl_certificate fullchain.pem; Apache >= 2.4.8: SSLCertificateFile with the "
            "chain appended; certbot users: point at fullchain.pem, not cert.pem.",
        ),
    )
