"""The three ways an image is compressed, each returning an `Outcome` (winner, every trial, reason).

* fixed: a named codec at the user's quality, one encode;
* search: one named codec, or every suitable codec for `auto`, searched in parallel threads
  (Pillow's encoders release the GIL), likely winners first, then the winner (and a runner-up
  within `CONTENDER_MARGIN`) re-encoded at the effort level's preset;
* sampled search: the same on a mosaic of tiles of a large image, then the winner verified at
  full size, where a miss continues its search upward (`sampling.confirm_full_size`); a codec
  that cannot meet the target at full size gives way to the sample's next best.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from PIL import Image

from ..base import Codec, CodecError, DecodeCheckError
from ..registry import available_codecs, get_codec
from . import gate, ranking
from .options import Request
from .progress import FINAL_END, SEARCH_END, Progress
from .reason import describe_value, reason_text
from .sampling import confirm_full_size, mosaic, sample_boxes, scaled_target
from .search import MAX_STEPS
from .strategies import final_options, finalise, search_codec
from .trials import Search, Trial, rgb_or_rgba

logger = logging.getLogger(__name__)

CONTENDER_MARGIN = 1.08  # runners-up within 8 % of the fast winner also get final encodes
# Codecs verified at full size, in the sample's order, when the one before cannot meet the
# target there even at its highest quality (then a lossless codec that met on the sample).
FULL_SIZE_CODECS = 3


@dataclass
class Plan:
    image: Image.Image  # flattened onto white when the named codec has no alpha
    codecs: list[Codec]
    mode: str  # "fixed", "search" (one named codec) or "auto"
    notes: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    winner: Trial
    trials: list[Trial]
    reason: str
    sample_boxes: list[tuple[int, int, int, int]] | None = None


def plan(image: Image.Image, request: Request, exclude: tuple[str, ...]) -> Plan:
    """Which codecs compete, and in which mode. `image` is RGB or RGBA."""
    target, quality = request.target, request.quality
    if request.codec == "auto":
        notes = []
        if quality is not None:
            notes.append(f"quality {quality!r} ignored: auto chooses the quality for the target")
        has_alpha = image.mode == "RGBA"
        codecs = [
            c
            for c in available_codecs()
            if c.auto_candidate
            and c.name not in exclude
            and (c.supports_alpha or not has_alpha)
            and (c.lossless or not target.lossless)
        ]
        if not codecs:
            raise CodecError(f"No registered codec can encode this image for target {target.spec!r}.")
        return Plan(image, codecs, "auto", notes)
    chosen = get_codec(request.codec)
    notes = []
    if target.lossless and not chosen.lossless and quality is None:
        if not chosen.lossless_variant:
            raise CodecError(f"Codec {chosen.name!r} cannot encode losslessly; choose png, webp-lossless or auto.")
        notes.append(f"{chosen.name} → {chosen.lossless_variant} for a lossless target")
        chosen = get_codec(chosen.lossless_variant)
    if image.mode == "RGBA" and not chosen.supports_alpha:
        image = _flatten(image)
        notes.append(f"transparency flattened onto white ({chosen.name} has no alpha)")
    return Plan(image, [chosen], "fixed" if quality is not None else "search", notes)


def search_one(codec: Codec, image: Image.Image, target) -> Trial:
    """The search mode for one codec object, registered or not (`manage.py codec --weights`
    searches weights the portal does not serve): its best trial for `target` (a parsed Target),
    the smallest file meeting it, else the closest."""
    search = Search(rgb_or_rgba(image), target)
    return ranking.pick(target, search_codec(search, codec, {}))


def _flatten(image: Image.Image) -> Image.Image:
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    return background


def run_fixed(plan_: Plan, request: Request, progress: Progress) -> Outcome:
    chosen, notes = plan_.codecs[0], list(plan_.notes)
    search = Search(plan_.image, request.target, progress=progress, keep_decoded=True)
    q = None if chosen.quality_range is None else request.quality
    if q is None and request.quality is not None:
        notes.append(f"quality {request.quality!r} ignored: {chosen.name} is lossless")
    fast = request.effort == "fast"
    options = {} if fast else final_options(chosen, {}, request.effort)
    with progress.span(0.0, FINAL_END, 1, verb="encoding") as span:
        span.begin(0, chosen.name)
        trial = search.measure(search.encode(chosen, q, options, fast=fast))
        span.finish(0)
    reason = f"{trial.label()}: quality chosen by the user"
    if not trial.meets:
        reason += f" (does not meet {request.target.describe()}: {describe_value(request.target, trial)})"
    return Outcome(trial, [trial], "; ".join([reason, *notes]))


def _workers(n_tasks: int) -> int:
    return max(1, min(n_tasks, os.cpu_count() or 1, 4))


def _search_all(searcher: Search, codecs: list[Codec], progress: Progress) -> tuple[list[list[Trial]], list[str]]:
    """Every codec and variant searched in parallel, then any gated codec if its probe says it
    can win (`gate`); (groups of trials, notes on codecs that failed or were not searched)."""
    tasks = [(c, dict(v)) for c in codecs for v in (c.variants or ({},))]
    # Likely winners first: their small files let the other searches stop early (see
    # `strategies._search_quality`), and the slowest encoder starts first so the pool does not
    # wait on it at the end.
    tasks.sort(key=lambda t: -t[0].search_priority)
    gated = [t for t in tasks if t[0].auto_gated] if any(not t[0].auto_gated for t in tasks) else []
    tasks = [t for t in tasks if t not in gated] + gated
    # A gated codec (the learned one) runs alone after the others and takes longer than all of
    # them together: it gets its own half of the bar rather than one task's share of it.
    n_open = len(tasks) - len(gated)
    middle = SEARCH_END / 2 if gated and n_open else (0.0 if gated else SEARCH_END)
    open_span = progress.span(0.0, middle, n_open)
    gated_span = progress.span(middle, SEARCH_END, len(gated))
    failures: list[str] = []
    groups: list[list[Trial]] = []

    def run(index_task):
        index, (codec, options) = index_task
        span = open_span if index < n_open else gated_span
        span.begin(index, codec.name, MAX_STEPS)

        def on_step():
            span.step(index, codec.name, MAX_STEPS)

        try:
            if (codec, options) in gated:
                return gate.gated_search(searcher, codec, options, groups, failures, on_step=on_step)
            return search_codec(searcher, codec, options, on_step=on_step)
        except Exception as exc:
            if progress.cancelled_by is not None:
                raise  # cancelled or out of time: every search stops
            error = exc
            if isinstance(exc, DecodeCheckError):
                logger.warning("%s output failed its decode check during the search: %s", exc.codec, exc)
            elif not isinstance(exc, CodecError):
                # A bug or an encoder's odd failure on an odd image: logged whole for us, and
                # only this codec is dropped; the others compete.
                logger.exception("%s search failed on a %d×%d image; codec dropped", codec.name, *searcher.image.size)
                error = CodecError(f"the {codec.label} search failed on this image ({type(exc).__name__}: {exc})")
            if len(tasks) == 1:
                if error is exc:
                    raise
                raise error from exc
            failures.append(f"{codec.name} skipped ({error})")
            return []
        finally:
            if progress.cancelled_by is None:
                span.finish(index)

    open_tasks = list(enumerate(tasks))[:n_open]
    with open_span, ThreadPoolExecutor(max_workers=_workers(len(open_tasks)), thread_name_prefix="codec-search") as pool:
        groups += [g for g in pool.map(run, open_tasks) if g]
    # After the pool, so the probe compares against every other codec's result.
    with gated_span:
        groups += [g for g in map(run, list(enumerate(tasks))[n_open:]) if g]
    if not groups:
        raise CodecError("No codec could encode this image: " + "; ".join(failures))
    return groups, sorted(failures)


def run_search(plan_: Plan, request: Request, progress: Progress) -> Outcome:
    image, target = plan_.image, request.target
    boxes = sample_boxes(*image.size)
    if boxes is not None:
        return _run_sampled(plan_, request, progress, boxes)
    search = Search(image, target, progress=progress)
    groups, failures = _search_all(search, plan_.codecs, progress)
    notes = [*plan_.notes, *failures]
    trials = [t for g in groups for t in g]
    fast_winner = ranking.pick(target, ranking.representatives(target, groups))
    if request.effort != "fast":
        _finalise_contenders(search, groups, fast_winner, trials, request.effort, progress)
    representatives = ranking.representatives(target, groups)
    winner = ranking.pick(target, representatives)
    others = [r for r in representatives if r is not winner]
    return Outcome(winner, trials, reason_text(
        target, winner, others, notes, pruned=search.pruned, pruned_predicted=search.pruned_predicted
    ))


def _finalise_contenders(search, groups, fast_winner, trials, effort, progress) -> None:
    """Re-encode the winner and, for a met quality target, a runner-up within CONTENDER_MARGIN
    at the effort's preset (fast settings may misjudge close races); adds to `groups`/`trials`."""
    target = search.target
    contenders = [fast_winner]
    if fast_winner.meets and search.budget is None:
        contenders += sorted(
            (r for r in ranking.representatives(target, groups)
             if r is not fast_winner and r.meets and r.size <= fast_winner.size * CONTENDER_MARGIN),
            key=lambda r: r.size,
        )[:1]
    contender_groups = [next(g for g in groups if c in g) for c in contenders]
    span = progress.span(SEARCH_END, FINAL_END, len(contenders), verb="final encode")

    def run(item):
        index, (contender, group) = item
        span.begin(index, contender.codec.name)
        try:
            extra = finalise(search, contender, group, effort)
        except DecodeCheckError:
            raise  # that codec's files are not to be trusted: the caller searches without it
        except Exception:
            if progress.cancelled_by is not None:
                raise
            # The searched (fast) file stands; a failed slower preset must not fail the job.
            logger.exception("final encode of %s failed; keeping its searched file", contender.label())
            extra = []
        span.finish(index)
        return extra

    with span, ThreadPoolExecutor(max_workers=_workers(len(contenders)), thread_name_prefix="codec-final") as pool:
        finals = list(pool.map(run, enumerate(zip(contenders, contender_groups))))
    for group, extra in zip(contender_groups, finals):
        group.extend(extra)
        trials.extend(extra)


def _run_sampled(plan_: Plan, request: Request, progress: Progress, boxes) -> Outcome:
    image, target = plan_.image, request.target
    sample = mosaic(image, boxes)
    sample_search = Search(sample, scaled_target(target, image, sample), progress=progress)
    groups, failures = _search_all(sample_search, plan_.codecs, progress)
    notes = [*plan_.notes, *failures]
    trials = [t for g in groups for t in g]
    for trial in trials:
        trial.sampled = True
    representatives = ranking.representatives(sample_search.target, groups)
    full = Search(image, target, progress=progress, keep_decoded=True)
    verified, verify_notes = _verify_full_size(full, sample_search, representatives, groups, request.effort, progress)
    for _, finals in verified:
        trials.extend(finals)
    progress.report("verified at full size", FINAL_END)
    winner = ranking.pick(target, [t for _, finals in verified for t in finals])
    for trial in trials:
        if trial is not winner:
            trial.decoded = None  # a full-size image each: only the winner's is needed again
    sample_winner = next(r for r, finals in verified if any(t is winner for t in finals))
    # Sizes compare fairly only within the sample, so the comparison is told there and the
    # full-size verdict comes first.
    verdict = f"{winner.label()} at full size: {describe_value(target, winner)}"
    if not winner.meets:
        verdict += f", missing {target.describe()}"
    notes[:0] = verify_notes
    notes.append(f"searched on a {sample.width}×{sample.height} sample of {len(boxes)} tiles")
    others = [r for r in representatives if r is not sample_winner]
    reason = reason_text(
        sample_search.target, sample_winner, others, notes, pruned=sample_search.pruned,
        pruned_predicted=sample_search.pruned_predicted, described=target.describe(),
    )
    return Outcome(winner, trials, f"{verdict}; on the sample, {reason}", sample_boxes=boxes)


def _verify_full_size(full: Search, sample_search: Search, representatives, groups, effort, progress):
    """The sample's best at full size, searched upward there until it meets the target
    (`sampling.confirm_full_size`); when a codec cannot meet it at full size, the sample's next
    best, up to FULL_SIZE_CODECS, then a lossless codec that met on the sample.

    Returns ([(sample representative, its full-size trials)], notes on what was not kept)."""
    target = full.target
    ordered = [r for r in ranking.ordered(sample_search.target, representatives) if r.meets is not None]
    chosen = ordered[:FULL_SIZE_CODECS]
    chosen += [r for r in ordered[FULL_SIZE_CODECS:] if r.codec.lossless and r.meets][:1]
    verified: list[tuple[Trial, list[Trial]]] = []
    notes: list[str] = []
    with progress.span(SEARCH_END, FINAL_END, len(chosen), verb="full-size encode") as span:
        for index, candidate in enumerate(chosen):
            group = next(g for g in groups if candidate in g)
            span.begin(index, candidate.codec.name)
            try:
                finals = confirm_full_size(full, sample_search, candidate, group, effort)
            except Exception as exc:
                if progress.cancelled_by is not None or isinstance(exc, DecodeCheckError):
                    raise
                if not isinstance(exc, CodecError):
                    logger.exception("full-size encode of %s failed; trying the next codec", candidate.label())
                notes.append(f"{candidate.codec.name} failed at full size ({exc})")
                span.finish(index)
                continue
            span.finish(index)
            verified.append((candidate, finals))
            best = ranking.pick(target, finals)
            if best.meets:
                break
            notes.append(f"{best.label()} missed {target.describe()} at full size ({describe_value(target, best)})")
    if not verified:
        raise CodecError("No codec could encode this image at full size: " + "; ".join(notes))
    return verified, notes
