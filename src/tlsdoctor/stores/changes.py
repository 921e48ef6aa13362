"""Adding or removing one CA in several stores, each on its own.

A store that cannot be planned (a tool missing, a read-only keystore, a database with a
primary password) is skipped with its reason and the others go ahead; so is one whose
change fails. The outcome of each store, and one exit status for all:

- 0: every store is in the wanted state (changed, or already so; plans for another
  platform shown);
- 1: partly done: some stores are, others were skipped or failed (each says why);
- 3: none could be changed.

Stores are not always independent: on Debian/Ubuntu the system store's hook
(ca-certificates-java) imports every added file into ``/etc/ssl/certs/java/cacerts`` as
``debian:NAME.pem`` and deletes that alias when told of the removal. When both stores are
chosen, the keystore *follows* the system store: keytool does not import the CA a second
time under another alias, and the keystore is verified after the system store's change.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509

from tlsdoctor.stores.base import (
    Plan,
    StoreError,
    StoreKind,
    TrustStore,
    apply,
    contains,
)
from tlsdoctor.stores.java import JavaStore
from tlsdoctor.stores.system import DebianStore

__all__ = ["Outcome", "Planned", "State", "apply_all", "exit_status", "plan_all"]

EXIT_DONE = 0
EXIT_PARTLY = 1
EXIT_NONE = 3


class State(str, enum.Enum):
    DONE = "done"  # changed, and the store read again says so
    ALREADY = "already"  # nothing to do
    PLANNED = "planned"  # --dry-run: would be changed
    SHOWN = "shown"  # another platform's commands, to run there
    SKIPPED = "skipped"  # could not be planned: the reason says why
    FAILED = "failed"  # the change failed or did not take effect

    def __str__(self) -> str:
        return self.value


_GOOD = frozenset({State.DONE, State.ALREADY, State.PLANNED, State.SHOWN})


@dataclass(frozen=True)
class Planned:
    """One store's plan, or why it has none."""

    store: TrustStore
    plan: Plan | None
    skipped: str | None = None
    follows: str | None = None  # the store whose change carries this one's


@dataclass(frozen=True)
class Outcome:
    store: str
    state: State
    reason: str = ""


def plan_all(
    stores: Sequence[TrustStore], action: str, ca: x509.Certificate, label: str
) -> list[Planned]:
    """A plan per store (system stores first: others may follow them)."""
    ordered = sorted(stores, key=lambda store: store.kind is not StoreKind.SYSTEM)
    planned: list[Planned] = []
    for store in ordered:
        try:
            planned.append(_plan_one(store, action, ca, label, planned))
        except StoreError as exc:
            planned.append(Planned(store, None, str(exc)))
    return planned


def _plan_one(
    store: TrustStore, action: str, ca: x509.Certificate, label: str, before: list[Planned]
) -> Planned:
    leader = _hook_leader(store, before) if isinstance(store, JavaStore) else None
    if leader is None or not isinstance(store, JavaStore):
        plan = store.plan_add(ca, label) if action == "add" else store.plan_remove(ca, label)
        return Planned(store, plan)
    system, system_plan = leader
    if action == "add":
        if contains(store, ca):
            return Planned(store, Plan(store.id, "add", (), already=True))
        note = (
            f"Debian's hook of the {system.id} store (ca-certificates-java) imports it here "
            f"as 'debian:{label.lower()}.pem': keytool does not import it a second time"
        )
        return Planned(store, Plan(store.id, "add", (), (note,)), follows=system.id)
    hooked = system.hooked_aliases(ca) if system_plan.steps else frozenset()
    plan = store.plan_remove(ca, label, leave=hooked)
    follows = system.id if hooked else None
    if follows is not None:
        note = f"Debian's hook of the {system.id} store deletes {', '.join(sorted(hooked))}"
        plan = Plan(plan.store, plan.action, plan.steps, (*plan.notes, note), False)
    return Planned(store, plan, follows=follows)


def _hook_leader(store: TrustStore, before: list[Planned]) -> tuple[DebianStore, Plan] | None:
    """The Debian system store (and its plan) whose hook keeps ``store`` in step, when it
    is being changed too."""
    keystore = getattr(store, "keystore", None)
    for item in before:
        if not isinstance(item.store, DebianStore) or item.plan is None:
            continue
        hooked = item.store.java_keystore()
        if keystore is None or hooked is None or item.plan.already:
            continue
        if hooked.resolve() == keystore.resolve():
            return item.store, item.plan
    return None


def apply_all(
    planned: Sequence[Planned],
    action: str,
    ca: x509.Certificate,
    *,
    dry_run: bool,
    done: Callable[[TrustStore], None] = lambda store: None,
) -> list[Outcome]:
    """Carry out each plan; each store read again after its change (``done`` is called
    for each store verified changed: the journal)."""
    wanted = action == "add"
    states: dict[str, State] = {}
    outcomes: list[Outcome] = []
    for item in planned:
        store, plan = item.store, item.plan
        if plan is None:
            outcome = Outcome(store.id, State.SKIPPED, item.skipped or "")
        elif not plan.runnable:
            outcome = Outcome(store.id, State.SHOWN)
        elif plan.already and item.follows is None:
            outcome = Outcome(store.id, State.ALREADY)
        elif dry_run:
            outcome = Outcome(store.id, State.PLANNED)
        elif item.follows is not None and states.get(item.follows) is not State.DONE:
            outcome = Outcome(store.id, State.FAILED, f"it follows {item.follows}, not changed")
        else:
            outcome = _apply_one(store, plan, ca, wanted)
            if outcome.state is State.DONE:
                done(store)
        states[store.id] = outcome.state
        outcomes.append(outcome)
    return outcomes


def _apply_one(store: TrustStore, plan: Plan, ca: x509.Certificate, wanted: bool) -> Outcome:
    try:
        apply(plan)
        held = contains(store, ca)
    except StoreError as exc:
        return Outcome(store.id, State.FAILED, str(exc))
    if held != wanted:
        return Outcome(store.id, State.FAILED, "the change did not take effect")
    return Outcome(store.id, State.DONE)


def exit_status(outcomes: Sequence[Outcome]) -> int:
    good = [o for o in outcomes if o.state in _GOOD]
    if len(good) == len(outcomes):
        return EXIT_DONE
    return EXIT_PARTLY if good else EXIT_NONE
