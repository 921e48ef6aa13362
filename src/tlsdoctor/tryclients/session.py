"""``check --try-clients``: every real client found here against one endpoint, beside
tlsdoctor's prediction for it.

The clients run concurrently, at most ``jobs`` at once (a JVM and a Go binary start
several threads; this is a 2-core-friendly default), each killed with its process group at
its time bound. A compiled probe (Java, Go) is built once before its run's clock starts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tlsdoctor.models import JsonValue, Report
from tlsdoctor.tryclients.builds import TlsBuild, build_of
from tlsdoctor.tryclients.predict import Prediction, agrees, fits, predict
from tlsdoctor.tryclients.runners import (
    CLIENTS,
    DEFAULT_TIMEOUT,
    PROFILE_OF,
    Dial,
    Outcome,
    Unavailable,
    Workspace,
    default_cache,
    prepare,
    run_client,
)

DEFAULT_JOBS = 3
_MAX_MESSAGE = 2000  # characters of a client's message kept in the result


@dataclass(frozen=True)
class Trial:
    """One client run beside its prediction."""

    outcome: Outcome
    prediction: Prediction
    build: TlsBuild | None
    causes: tuple[str, ...]  # what `explain` reads in the client's message

    @property
    def agrees(self) -> bool | None:
        return agrees(self.outcome.ok, self.prediction)

    @property
    def message_fits(self) -> bool:
        return fits(self.outcome.message, self.prediction.expected_error)


@dataclass(frozen=True)
class Trials:
    """Every client that ran, and why the others did not."""

    dial: Dial
    trials: tuple[Trial, ...]
    not_run: tuple[tuple[str, str], ...]  # (client, why)
    timeout: float
    seconds: float

    @property
    def disagreements(self) -> tuple[Trial, ...]:
        return tuple(trial for trial in self.trials if trial.agrees is False)

    @property
    def compared(self) -> int:
        return sum(trial.agrees is not None for trial in self.trials)


def parse_clients(text: str | None) -> tuple[str, ...]:
    """``curl,node`` -> the clients, checked against the known ones (None: all)."""
    if text is None:
        return CLIENTS
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in PROFILE_OF]
    if unknown or not names:
        raise ValueError(
            f"unknown client(s) {', '.join(repr(name[:40]) for name in unknown) or '(none)'}; "
            f"known: {', '.join(CLIENTS)}"
        )
    return names


def try_clients(
    report: Report,
    dial: Dial,
    clients: Sequence[str] = CLIENTS,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int = DEFAULT_JOBS,
    cache: Path | None = None,
) -> Trials:
    """Run ``clients`` against ``dial``; each result beside the prediction from ``report``."""
    started = time.monotonic()
    workspace = Workspace(cache if cache is not None else default_cache())

    def attempt(client: str) -> Trial | tuple[str, str]:
        reason = prepare(client, dial, workspace)
        if reason is not None:
            return client, reason
        try:
            outcome = run_client(client, dial, workspace, timeout)
        except (Unavailable, OSError) as exc:
            return client, str(exc)
        build = build_of(client)
        prediction = predict(client, PROFILE_OF[client], report, build)
        return Trial(outcome, prediction, build, _causes(outcome))

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(attempt, clients))
    return Trials(
        dial,
        tuple(result for result in results if isinstance(result, Trial)),
        tuple(result for result in results if not isinstance(result, Trial)),
        timeout,
        time.monotonic() - started,
    )


def _causes(outcome: Outcome) -> tuple[str, ...]:
    """The causes `explain` ranks for what the client printed (none when it connected)."""
    if outcome.ok or outcome.killed or not outcome.message:
        return ()
    from tlsdoctor.explain import explain_text

    explanation = explain_text(outcome.message[:_MAX_MESSAGE])
    return tuple(str(cause.code) for cause in explanation.causes)


def trials_to_dict(trials: Trials) -> dict[str, JsonValue]:
    """The ``tried_clients`` member of the JSON report (schema/report.schema.json)."""
    runs: list[JsonValue] = []
    for trial in trials.trials:
        outcome, prediction, build = trial.outcome, trial.prediction, trial.build
        runs.append(
            {
                "client": outcome.client,
                "profile": prediction.profile,
                "version": build.version if build else None,
                "tls_library": build.library if build else None,
                "min_protocol": build.min_protocol if build else None,
                "security_level": build.security_level if build else None,
                "exit_code": outcome.exit_code,
                "killed": outcome.killed,
                "seconds": round(outcome.seconds, 3),
                "verified": outcome.ok,
                "message": outcome.message[:_MAX_MESSAGE] or None,
                "causes": list(trial.causes),
                "predicted_trusted": prediction.trusted,
                "predicted_codes": [code.value for code in prediction.codes],
                "predicted_error": prediction.expected_error,
                "local_build": prediction.local,
                "agrees": trial.agrees,
            }
        )
    return {
        "timeout": trials.timeout,
        "seconds": round(trials.seconds, 3),
        "compared": trials.compared,
        "agree": sum(trial.agrees is True for trial in trials.trials),
        "runs": runs,
        "not_run": [{"client": client, "reason": why} for client, why in trials.not_run],
    }


__all__ = [
    "DEFAULT_JOBS",
    "DEFAULT_TIMEOUT",
    "Trial",
    "Trials",
    "parse_clients",
    "trials_to_dict",
    "try_clients",
]
