"""One paid request as a node sees it: collect the inputs, refuse bad ones, then run it on fal.

A node describes its request with fal's field names; where a file goes, it asks this job for a
placeholder (``single_image``, ``image_batch``, ``keyframes``, ``video_source``). ``run`` checks
everything before anything is encoded, uploaded or sent, then runs one ``RunSpec`` per take through
``decide.run_once``. The whole story, call by call: docs/design.md ("One paid run").
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...fal.deadline import TimeLimits
from ...fal.transfers import Upload
from ...journal.identity import request_identity
from ...luma.catalog import build_request, check_source_video
from ...luma.errors import RequestInvalid
from ...luma.fal_schema import check_payload
from ...luma.keyframes import KeyframePositionsInvalid, parse_positions
from ...luma.prices import Price, money as usd_text, price_of_request
from ...media.images import encode_reference
from ...media.tensor_checks import ImageTensorInvalid, check_image_batch
from .. import host
from ..money import check as money
from ..money.check import check_spend
from ..money.fal_docs import refresh, schema_for
from ..rules.input_identity import content_identity
from ..rules.schema_drops import split_drops
from ..rules.takes import Take, check_plan, failure_of, plan_takes, report_text
from .decide import run_once, will_pay
from .fal_bridge import check_key
from .saving import Generated
from .spec import PendingUpload, RunSpec, TakeHooks
from .take_status import TakesReporter
from .video_sources import frames_upload, video_upload

log = logging.getLogger(__name__)

_PLACEHOLDER = "upload://{index}"


class NothingSent(ValueError):
    """The node's inputs were refused before anything was uploaded or sent; nothing was billed."""

    def __init__(self, node_name: str, message: str) -> None:
        super().__init__(f"{node_name}: nothing was sent to fal (not billed).\n{message}")


# fal's field names where a node's input has another name (fields not listed keep their name).
_WIDGET_NAMES = {
    "enable_web_search": "web_search", "keyframe_indexes": "keyframe_positions",
    "source_position": "place_source", "video_url": "video", "start_image_url": "start_image",
    "end_image_url": "end_image",
}


def _once(produce: Callable[[], Upload]) -> Callable[[], Upload]:
    """``produce`` run at most once: the takes of a fan-out share one encode of each input file."""
    lock = threading.Lock()
    made: list[Upload] = []

    def first() -> Upload:
        with lock:
            if not made:
                made.append(produce())
            return made[0]

    return first


class FalJob:
    def __init__(self, endpoint_id: str, node_cls: Any, *, stem: str, seed: int,
                 names: dict[str, str] | None = None) -> None:
        self.endpoint_id = endpoint_id
        self.node_id: str | None = getattr(node_cls.hidden, "unique_id", None)
        self.node_name: str = node_cls.define_schema().display_name
        # The whole queued prompt (API format): the spend check prices every paid node in it together.
        self.prompt: dict[str, Any] | None = getattr(node_cls.hidden, "prompt", None)
        self.stem = stem
        self.seed = seed
        self._uploads: list[PendingUpload] = []
        self._source_seconds: float | None = None
        self._widget_names: dict[str, str] = {**_WIDGET_NAMES, **(names or {})}

    # -- inputs that become uploads -------------------------------------------------------------

    def single_image(self, input_name: str, image: Any) -> str:
        self._check_image(input_name, image)
        if image.shape[0] != 1:
            raise NothingSent(self.node_name, f"{input_name}: expects one image, got a batch of {image.shape[0]}. "
                                              "Pick one image from the batch (e.g. with ImageFromBatch).")
        return self._add_image(input_name, image[0])

    def image_batch(self, input_name: str, images: Any) -> list[str]:
        self._check_image(input_name, images)
        return [self._add_image(f"{input_name}[{i}]", images[i]) for i in range(images.shape[0])]

    def keyframes(self, images: Any, positions_text: str, duration: str) -> tuple[list[str], list[int]]:
        self._check_image("keyframes", images)
        try:
            indexes = parse_positions(positions_text or "", images.shape[0], duration)
        except KeyframePositionsInvalid as exc:
            raise NothingSent(self.node_name, str(exc)) from None
        return self.image_batch("keyframes", images), indexes

    def video_source(self, video: Any, frames: Any, fps: float) -> str | None:
        if video is not None and frames is not None:
            raise NothingSent(self.node_name, "video: connect either a VIDEO or source_frames, not both.")
        if video is not None:
            seconds, identity, produce = video_upload(video)
        elif frames is not None:
            self._check_image("source_frames", frames)
            seconds, identity, produce = frames_upload(frames, fps)
        else:
            return None  # the catalogue reports the missing source with the other problems
        self._source_seconds = seconds
        return self._add("source video", identity, produce)

    def _check_image(self, input_name: str, images: Any) -> None:
        """Refuse a degenerate IMAGE (empty, zero-sized, NaN, odd channels) naming the input."""
        try:
            check_image_batch(images)
        except ImageTensorInvalid as exc:
            raise NothingSent(self.node_name, f"{input_name}: {exc}") from None

    def _add_image(self, label: str, image: Any) -> str:
        def produce() -> Upload:
            encoded = encode_reference(image)
            return Upload(encoded.data, encoded.content_type, f"{label.replace('[', '-').rstrip(']')}.{encoded.extension}",
                              encoded.sha256)

        return self._add(label, content_identity(image), produce)

    def _add(self, label: str, identity: str, produce: Callable[[], Upload]) -> str:
        placeholder = _PLACEHOLDER.format(index=len(self._uploads))
        self._uploads.append(PendingUpload(placeholder, label, identity, _once(produce)))
        return placeholder

    # -- the run --------------------------------------------------------------------------------

    def validate(self, fields: dict[str, Any]) -> Any:
        """The catalogue's verdict on the whole request; raises ``NothingSent`` listing every problem."""
        try:
            request = build_request(self.endpoint_id, fields)
            if self._source_seconds is not None:
                check_source_video(request.endpoint_id, self._source_seconds)
        except RequestInvalid as exc:
            raise NothingSent(self.node_name, "\n".join(self._widget_text(p) for p in exc.problems)) from None
        return request

    def _widget_text(self, problem: Any) -> str:
        """A problem worded with the node's input names (fal's ``image_url`` is the node's ``start_image``)."""
        head, _, rest = problem.field.partition("[")
        name = self._widget_names.get(head, head)
        field = f"{name}[{rest}" if rest else name
        return f"{field}: {problem.message}" if field else problem.message

    def apply_fal_schema(self, request: Any) -> dict[str, Any]:
        """The payload as fal's current schema takes it; an option fal removed, a field it newly requires or
        a connected input it has no field for is refused here (``NothingSent``, also on the node's status
        line); a widget value it dropped is left out and the status line says so (rules/schema_drops.py)."""
        payload = request.to_payload()
        schema = schema_for(request.endpoint_id)
        if schema is None:
            return payload
        verdict = check_payload(payload, schema)
        problems = [self._widget_text(p) for p in verdict.problems]
        refusals, notices = split_drops(verdict.dropped, tuple(getattr(request, "FILE_FIELDS", ())), payload,
                                        self._widget_names, request.endpoint_id, schema.source)
        if problems or refusals:
            text = "\n".join(problems + refusals)
            host.send_status({"node": self.node_id, "prompt_id": host.current_prompt_id(), "phase": "refused",
                              "text": f"Not run: {text}", "logs": []})
            raise NothingSent(self.node_name, text)
        for notice in notices:
            log.warning("%s: %s", self.node_name, notice)
        if notices:
            host.send_status({"node": self.node_id, "prompt_id": host.current_prompt_id(), "phase": "checking",
                              "text": notices[0], "notice": "; ".join(notices), "logs": []})
        return verdict.payload

    async def _check_spend(self, price: Price) -> None:
        verdict = await check_spend(node_name=self.node_name, node_id=self.node_id, price=price, prompt=self.prompt)
        if verdict.refusal:
            raise NothingSent(self.node_name, verdict.refusal)
        log.info("%s: estimate %s", self.node_name, price.text)

    async def run(self, fields: dict[str, Any], limits: TimeLimits, fan_out: Mapping[str, Any] | None = None,
                  hooks: TakeHooks | None = None) -> Takes:
        """Run the request once per take (``fan_out``: the node's ``takes`` and ``prompt_variants``), every
        take at once. Every take is validated, and the whole fan-out's estimate checked against the spend
        limits as one, before anything is encoded, uploaded or sent. A take that fails does not discard
        the others; if every take fails, the node fails with every reason. ``hooks`` (the node's, when it
        decodes frames) travel down with each take."""
        fan_out = fan_out or {}
        refusal = check_plan(self.node_name, fan_out.get("prompt_variants"), fan_out.get("takes"))
        if refusal:
            raise NothingSent(self.node_name, refusal)
        plan = plan_takes(str(fields.get("prompt", "")), fan_out.get("prompt_variants"), fan_out.get("takes"))
        requests = {}
        for take in plan:  # one validation per distinct prompt, all before anything is sent
            if take.prompt not in requests:
                requests[take.prompt] = self._validate_take(fields, take)
        await refresh((next(iter(requests.values())).endpoint_id,))  # at most ~2 s; else cached/bundled schema
        prompt_id = host.current_prompt_id()
        try:
            payloads = {text: self.apply_fal_schema(request) for text, request in requests.items()}
            check_key()  # a missing key fails here, before anything is journaled, encoded or sent
            specs = []
            paying: list[Any] = []
            for take in plan:
                request, payload = requests[take.prompt], payloads[take.prompt]
                # Only files the payload still uses go up (a field fal dropped takes its uploads with it).
                sent = json.dumps(payload)
                uploads = [u for u in self._uploads if f'"{u.placeholder}"' in sent]
                identity = request_identity(request.endpoint_id, payload, {u.placeholder: u.identity for u in uploads},
                                            self.seed, take.identity_take)
                price = price_of_request(request, self._source_seconds)
                if will_pay(identity):  # reusing saved files or following a paid request costs nothing
                    paying.append(price)
                specs.append(RunSpec(
                    identity=identity, endpoint_id=request.endpoint_id, payload=payload, uploads=tuple(uploads),
                    output_kind=request.output_kind, stem=self.stem, seed=self.seed, node_id=self.node_id,
                    node_name=self.node_name, price_usd=price.usd, price_source=price.text, limits=limits,
                    hooks=hooks,
                ))
            if paying:
                await self._check_spend(fan_out_price(paying))
            if hooks is not None:
                try:
                    await hooks.before_takes(len(specs), requests[plan[0].prompt])
                except (MemoryError, ValueError) as exc:  # e.g. frames that could not fit: refused unpaid
                    raise NothingSent(self.node_name, str(exc)) from None
            return await run_takes(plan, specs, self.node_id, self.node_name, hooks)
        finally:
            money.finish(prompt_id, self.node_id)

    def _validate_take(self, fields: dict[str, Any], take: Take) -> Any:
        if not take.prompt_number:
            return self.validate(fields)
        try:
            return self.validate({**fields, "prompt": take.prompt})
        except NothingSent as exc:
            raise NothingSent(self.node_name, f"prompt_variants line {take.prompt_number}: "
                                              + str(exc).split("\n", 1)[1]) from None


@dataclass(frozen=True)
class Takes:
    """A node run's takes that succeeded (in take order) and the report naming those that failed."""

    results: list[Generated]
    report: str


def fan_out_price(prices: list[Price]) -> Price:
    """The estimate of several requests as one (for the spend check): their sum, unknown if any is."""
    if len(prices) == 1:
        return prices[0]
    total = None if any(p.usd is None for p in prices) else round(sum(p.usd for p in prices), 6)
    first = prices[0]
    label = (f"{len(prices)} takes, {usd_text(total)} in all ({first.label} each)" if total is not None
             else f"{len(prices)} takes ({first.label} each)")
    return Price(total, label, first.source)


async def run_takes(plan: list[Take], specs: list[RunSpec], node_id: str | None, node_name: str,
                    hooks: TakeHooks | None = None) -> Takes:
    """Every take at once (each through the transport's in-flight cap), waiting for all of them: a Cancel
    reaches every take's wait, so each is cancelled at fal before the node stops. ``hooks.after_take`` runs
    for each take of a fan-out that succeeded, as it lands (a single take keeps the node's own status line)."""
    if len(specs) == 1:  # one take: the node's own status line and errors
        generated = await run_once(specs[0])
        return Takes([generated], report_text([(plan[0], generated.request_id)], []))
    reporter = TakesReporter(node_id, plan)
    reporter.send("running", [])

    async def one_take(index: int, spec: RunSpec) -> Generated:
        take_reporter = reporter.for_take(index, hold_done=hooks is not None)
        generated = await run_once(spec, take_reporter)
        if hooks is not None:
            try:
                await hooks.after_take(index, len(specs), generated, take_reporter)
            finally:
                take_reporter.release()
        return generated

    answers = await asyncio.gather(*(one_take(i, spec) for i, spec in enumerate(specs)), return_exceptions=True)
    results, succeeded, failed = [], [], []
    interrupt: BaseException | None = None
    for take, answer in zip(plan, answers, strict=True):
        if isinstance(answer, BaseException):
            if host.is_interrupt(answer):
                interrupt = interrupt or answer
            failed.append(failure_of(take, answer))
            continue
        results.append(answer)
        succeeded.append((take, answer.request_id))
    report = report_text(succeeded, failed)
    if interrupt is not None:
        reporter.send("cancelled", [], f"Cancelled: {report}")
        raise interrupt
    if not results:
        reporter.send("error", [], report)
        raise RuntimeError(f"{node_name}: every take failed.\n{report}")
    for failure in failed:
        log.warning("luma-fal: %s: %s failed: %s", node_name, failure.take.label, failure.reason)
    reporter.send("done", [], report.splitlines()[0])
    return Takes(results, report)
