"""The Vast API as VastFleet uses it: the SDK client with a short timeout, every call paced by
Vast's documented limits (`vast_pacing`), 429s waited out as Vast asks, bounded retries of other
transient failures, one-line errors that never show a secret, and the instance listing parsed
leniently (one incomplete instance must not hide the others).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from vastai import VastAI

from infra.fleet.base import LIVE_STATES, CreditError, FleetError, ProviderState
from infra.fleet.vast_pacing import Pacer
from infra.settings import Settings

T = TypeVar("T")
log = logging.getLogger("zeb.fleet")
# What Vast says when the account cannot pay: HTTP 400, "insufficient_credit: Your account lacks
# credit; see the billing page." (matched loosely: the wording has changed over the years).
LACKS_CREDIT = re.compile(r"insufficient[_ ](credit|balance)|lacks credit", re.IGNORECASE)
# Vast's documented actual_status values (cli/reference/show-instances-v1.mdx in vast-ai/docs) ->
# the fleet's state. "stuck" bills without producing: frozen keeps the GPU (and its charge), an
# unknown or offline host has not been heard from. Anything undocumented reads as booting (the
# record's detail shows what Vast said) and is bounded by the health pass's boot timeout.
STATES: dict[str | None, ProviderState] = {
    None: "booting",  # being provisioned
    "loading": "booting",  # pulling the image, starting the container
    "rebooting": "booting",  # restarting (transient)
    "running": "running",
    "exited": "exited",  # the container's process ended
    "stopped": "exited",  # halted: no GPU charge, the disk still bills
    "frozen": "stuck",  # paused with memory kept: the GPU bills
    "unknown": "stuck",  # no recent heartbeat from the host
    "offline": "stuck",  # the host disconnected from Vast
}
# How many 429s in a row one call waits out before it gives up (each wait is what Vast asked).
RATE_LIMIT_TRIES = 6


@dataclass(frozen=True)
class CallPolicy:
    """Bounded retry of transient failures (429, 5xx, timeouts, dropped connections)."""

    attempts: int = 3
    backoff_s: float = 1.0  # first wait, doubling
    max_backoff_s: float = 5.0

    def delay(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))


class LogNotReady(FleetError):
    """Vast had not uploaded the instance's log when it was read: unknown, not empty."""


class VastHttpError(FleetError):
    """The API answered with an HTTP error status (kept so callers can tell 404 from 500)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class VastInstance(BaseModel):
    """One instance of the listing, the fields a fleet reads; a missing or bad value is None.

    extra="ignore": Vast returns about a hundred fields per instance (its env among them: never
    kept, never logged); these are validated, the rest are not ours to reject.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int | None = None  # None: the fleet cannot act on it, so it is skipped
    label: str | None = None
    actual_status: str | None = None
    intended_status: str | None = None
    cur_state: str | None = None  # the machine contract: "unloaded" once destroyed
    status_msg: str | None = None
    start_date: float | None = None  # unix seconds
    dph_total: float | None = None
    machine_id: int | None = None
    gpu_name: str | None = None

    @field_validator("*", mode="wrap")
    @classmethod
    def _unknown_if_bad(cls, value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError:
            return None

    @property
    def state(self) -> ProviderState:
        if self.released:
            return "gone"
        if self.intended_status == "stopped":  # stopped by Vast (credit, outbid) or by hand
            return "exited"
        return STATES.get(self.actual_status, "booting")

    @property
    def released(self) -> bool:
        """Destroyed: the contract is unloaded and bills no more (it may still be listed)."""
        return self.cur_state == "unloaded"

    @property
    def live(self) -> bool:
        """Rented and billing (a stuck instance bills too)."""
        return self.state in LIVE_STATES


class VastApi:
    """SDK calls paced by Vast's limits, with bounded retries; every failure a one-line
    FleetError without secrets."""

    def __init__(
        self, sdk: VastAI, policy: CallPolicy, secrets: tuple[str, ...], pacer: Pacer
    ) -> None:
        self.sdk = sdk
        self.policy = policy
        self.pacer = pacer
        self._secrets = secrets
        self.calls: dict[str, int] = {}  # requests sent per call name (for reports)
        self.refusals = 0  # 429s seen

    def call(self, name: str, fn: Callable[..., T], *args, idempotent: bool = True, **kw) -> T:
        """One SDK call, paced; a 429 is waited out (a refused request did nothing, so even a
        create is sent again), other transient failures retried boundedly."""
        failures = refusals = 0
        while True:
            try:
                with self.pacer.slot(name):
                    self.calls[name] = self.calls.get(name, 0) + 1
                    return fn(*args, **kw)
            except requests.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else 0
                if status == 429 and refusals < RATE_LIMIT_TRIES:
                    refusals += 1
                    self._refused(name, exc.response)
                    continue
                error: FleetError = self._http_error(name, exc.response)
                retry = idempotent and status >= 500
            except (requests.Timeout, requests.ConnectionError) as exc:
                timed_out = isinstance(exc, requests.Timeout)
                what = "no answer in time" if timed_out else "connection failed"
                error, retry = FleetError(f"vast {name}: {what}"), idempotent
            except TimeoutError:  # `logs`: the log file was not uploaded in time
                raise LogNotReady(f"vast {name}: the log is not uploaded yet") from None
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                # The SDK indexes and decodes answers as it gets them: a bad body lands here.
                raise FleetError(f"vast {name}: malformed answer ({type(exc).__name__})") from None
            failures += 1
            if not retry or failures >= self.policy.attempts:
                raise error
            time.sleep(self.policy.delay(failures))

    def _refused(self, name: str, response: requests.Response | None) -> None:
        self.refusals += 1
        wait = self.pacer.refused(name, response.text if response is not None else "")
        log.info("vast %s: rate limited by Vast; waiting %.1fs as it asks", name, wait)

    def _http_error(self, name: str, response: requests.Response | None) -> FleetError:
        status = response.status_code if response is not None else 0
        reason = self.scrub(first_line(_answer_reason(response)))[:200]
        if LACKS_CREDIT.search(reason):
            return CreditError(f"vast {name}: the account lacks credit (HTTP {status}: {reason})")
        return VastHttpError(f"vast {name}: HTTP {status}: {reason}", status)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def make_client(settings: Settings) -> VastAI:
    if settings.vast_api_key is None or not settings.vast_api_key.get_secret_value():
        raise FleetError("VAST_API_KEY is not set: a Vast fleet needs the account's API key")
    sdk = VastAI(
        api_key=settings.vast_api_key.get_secret_value(),
        server_url=settings.vast_url,
        retry=1,  # one try per call: VastFleet retries, boundedly
        raw=True,
        quiet=True,
    )
    # VastAI does not take a timeout; its VastClient does, per request (default 120 s).
    sdk.client.timeout = settings.vast_timeout_s
    return sdk


def _answer_reason(response: requests.Response | None) -> str:
    """What an error answer says (Vast: {"error": ..., "msg": ...}), else its status text."""
    if response is None:
        return "no answer"
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "msg", "detail") if body.get(k)]
        return ": ".join(parts) or response.reason or ""
    return response.reason or ""


def utc(unix_s: float | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(unix_s, UTC) if unix_s else None
    except (OverflowError, OSError, ValueError):  # out of range: as good as unknown
        return None


def first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else ""
