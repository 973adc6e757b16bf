"""Every person in the rig: candidates of V views matched into people per frameset, linked into tracks.

This is the one association of rigkit; the single-subject mode (:func:`labeling.associate`) picks
one of the tracks it finds. Conventions in :mod:`geometry.camera` (V views, F framesets, P
candidate slots per view, J joints, T tracks; distorted pixels, metres, NaN where missing).

Per frameset, in take order:

1. **Tracks claim their people.** Each live track predicts its skeleton (last 3D joints plus the
   centroid velocity times the frames since it was last seen) and projects it into every view.
   The cost of a candidate for a track is the median over joints of the distance between the
   candidate's joints and the projection (pixels), turned into metres at the track's depth, so one
   gate (``track_gate_m``) serves near and far people. In each view, tracks and candidates are
   matched by the Hungarian method (one candidate per track, one track per candidate). The
   tracks' views together form one assignment across all views: every candidate is used at
   most once and every view of a person points at the same 3D skeleton (consistent around every
   cycle of views by construction, unlike pairwise greedy matching).
2. **Each person is triangulated** from its views (weighted rays, least squares, joints that
   reproject far dropped, once); a view whose candidate reprojects far from the result (median over
   joints above ``view_reject_px``) was the wrong candidate and is released.
3. **Candidates no track took are partitioned into new people**: symmetric epipolar distance
   (median over joints) between every two of them in different views, then agglomeration of
   the closest pairs into groups with at most one candidate per view, a pair of groups merging
   only when all their cross pairs agree on average (average linkage) -- a partition of the
   candidates, not a chain of pairwise matches. A group of at least ``min_views`` views either
   re-acquires a track that lost its views (3D distance within its gate) or starts a tentative
   track. A false detection (one view) or a person seen by a single view forms no group.
4. **Births, deaths, gaps.** A tentative track becomes a person after ``min_track_frames``
   triangulated framesets and is dropped if it misses two framesets before that; a person
   whose track misses more than ``max_gap_frames`` framesets in a row has left (short gaps are
   bridged: the identity carries over). After the pass, tracks that end and start again nearby
   (within ``stitch_gap_frames``) are joined; ``max_people`` caps how many people are alive at
   once and how many tracks are kept (the most-seen ones).

Identity is *uncertain* at a frameset when fewer than two of the person's views are unambiguous
(another candidate, or another track, within ``ambiguity_m`` of the chosen match) -- the
frames where two people overlap in most views.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._people_geometry import (_affinities, _centroid, _claim_costs, _Geometry, _triangulate_groups,
                               pair_epipolar_px)
from .detections import Detections

__all__ = ["Track", "PeopleAssociation", "PeopleSamples", "associate_people", "pair_epipolar_px",
           "compile_association_kernels"]

log = logging.getLogger(__name__)

_FAR = 1e6  # cost of a forbidden match in the Hungarian method


@dataclass(frozen=True, kw_only=True)
class Track:
    """One person over the take (positions index the take's framesets, not frame numbers).

    person_id: stable id (tracks ordered by first frameset). num_framesets: framesets with at least
    one view of the person; view_framesets: views summed over them; uncertain_framesets: see the
    module docstring; mean_size_px: mean 2D size (bounding box diagonal) of the chosen candidates.
    """

    person_id: int
    first_position: int
    last_position: int
    num_framesets: int
    view_framesets: int
    uncertain_framesets: int
    mean_size_px: float

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True, kw_only=True)
class PeopleSamples:
    """One sample per person per frameset, sorted by (frameset, person).

    detections: (V, N, J) the person's chosen candidate per view (``frame_index`` repeats when
        several people share a frameset).
    person_id: (N,) int64. position: (N,) int64 frameset position in the take.
    candidate: (V, N) int64 which candidate of each view was used (-1: none).
    affinity_px: (V, N) float64 median distance over joints between that candidate and the
        person's triangulated skeleton reprojected (NaN: no candidate, or no skeleton).
    uncertain: (N,) bool identity uncertain at that frameset.
    tracks: the tracks the samples belong to.
    """

    detections: Detections
    person_id: np.ndarray
    position: np.ndarray
    candidate: np.ndarray
    affinity_px: np.ndarray
    uncertain: np.ndarray
    tracks: tuple[Track, ...]


@dataclass(frozen=True, kw_only=True)
class PeopleAssociation:
    """The people found in a take.

    chosen: (T, V, F) int64 candidate per track, view and frameset (-1: none).
    affinity_px: (T, V, F) float64 (see :class:`PeopleSamples`).
    uncertain: (T, F) bool. tracks: T :class:`Track` (index = person_id).
    candidates: the input (``labeling.association.PersonCandidates``).
    """

    chosen: np.ndarray
    affinity_px: np.ndarray
    uncertain: np.ndarray
    tracks: tuple[Track, ...]
    candidates: object = field(repr=False)

    @property
    def num_people(self) -> int:
        return len(self.tracks)

    def detections(self, person: int) -> Detections:
        """(V, F, J) the person's chosen candidate over the whole take (NaN where not seen)."""
        return self.candidates.select(self.chosen[person],
                                      source_note=f"person {person} of {self.num_people}")

    def samples(self) -> PeopleSamples:
        """Every (person, frameset) where the person has at least one view, as label inputs."""
        T, V, F = self.chosen.shape
        seen = (self.chosen >= 0).any(axis=1)  # (T, F)
        position, person = np.nonzero(seen.T)  # sorted by frameset, then person
        chosen = self.chosen[person, :, position].T  # (V, N)
        c = self.candidates
        N = position.size
        views = np.arange(V)[:, None]
        index = np.clip(chosen, 0, None)
        points = c.points_2d[views, position[None], index]  # (V, N, J, 2)
        scores = c.scores[views, position[None], index]
        points = np.where((chosen >= 0)[..., None, None], points, np.nan)
        scores = np.where((chosen >= 0)[..., None], scores, np.nan)
        detections = Detections(points_2d=points.reshape(V, N, -1, 2),
                                scores=scores.reshape(V, N, -1), camera_names=c.camera_names,
                                joint_names=c.joint_names, frame_index=c.frame_index[position],
                                timestamp_s=c.timestamp_s[position],
                                source=f"{c.source}; {self.num_people} people by association",
                                metadata=dict(c.metadata))
        return PeopleSamples(detections=detections, person_id=person.astype(np.int64),
                             position=position.astype(np.int64), candidate=chosen.astype(np.int64),
                             affinity_px=self.affinity_px[person, :, position].T,
                             uncertain=self.uncertain[person, position], tracks=self.tracks)


@dataclass
class _TrackState:
    """A finished track: what the output and the stitching need."""

    ident: int
    skeleton: np.ndarray  # (J, 3) last known joints
    first_skeleton: np.ndarray  # (J, 3) at birth
    hits: int
    records: dict  # position -> (chosen (V,), affinity_px (V,), uncertain)


class _Live:
    """The live tracks as arrays (one row per track) and their per-frameset records."""

    def __init__(self, V: int, J: int):
        self.skeleton = np.zeros((0, J, 3))  # last known joints (NaN: never triangulated)
        self.first = np.zeros((0, J, 3))
        self.velocity = np.zeros((0, 3))  # centroid, metres per frameset
        self.last = np.zeros(0, dtype=np.int64)  # position last triangulated
        self.hits = np.zeros(0, dtype=np.int64)
        self.misses = np.zeros(0, dtype=np.int64)
        self.ident = np.zeros(0, dtype=np.int64)
        self.records: list[dict] = []

    def __len__(self) -> int:
        return len(self.records)

    def predict(self, position: int) -> np.ndarray:
        """(T, J, 3) every track's skeleton moved by its velocity to ``position``."""
        return self.skeleton + (self.velocity * (position - self.last)[:, None])[:, None, :]

    def add(self, skeleton: np.ndarray, position: int, ident: int) -> None:
        self.skeleton = np.concatenate([self.skeleton, skeleton[None]])
        self.first = np.concatenate([self.first, skeleton[None]])
        self.velocity = np.concatenate([self.velocity, np.zeros((1, 3))])
        self.last = np.append(self.last, position)
        self.hits = np.append(self.hits, 0)
        self.misses = np.append(self.misses, 0)
        self.ident = np.append(self.ident, ident)
        self.records.append({})

    def keep(self, rows: np.ndarray) -> None:
        for name in ("skeleton", "first", "velocity", "last", "hits", "misses", "ident"):
            setattr(self, name, getattr(self, name)[rows])
        self.records = [self.records[k] for k in np.flatnonzero(rows)]

    def finished(self, rows: np.ndarray) -> list[_TrackState]:
        return [_TrackState(ident=int(self.ident[k]), skeleton=self.skeleton[k],
                            first_skeleton=self.first[k], hits=int(self.hits[k]),
                            records=self.records[k]) for k in np.flatnonzero(rows)]


def associate_people(candidates, rig, options=None) -> PeopleAssociation:
    """Find every person in ``candidates`` (``labeling.association.PersonCandidates``).

    rig: the calibration; cameras matched by name (the rig is reduced to the candidates' views).
    options: ``labeling.association.AssociationOptions``.
    """
    from .association import AssociationOptions

    options = AssociationOptions() if options is None else options
    rig = rig.subset(list(candidates.camera_names))
    V, F, P, J, _ = candidates.points_2d.shape
    overlap = _SEGMENT_OVERLAP_FRAMES
    workers = max(1, min(options.workers, F // (4 * overlap)))
    if workers == 1:
        finished = _track_range(candidates.points_2d, candidates.scores, rig, options, 0, 0)
    else:  # segments tracked in parallel processes, joined where they overlap
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        starts = [F * k // workers for k in range(workers)] + [F]
        jobs = [(candidates.points_2d[:, max(0, starts[k] - overlap):starts[k + 1]],
                 candidates.scores[:, max(0, starts[k] - overlap):starts[k + 1]], rig, options,
                 max(0, starts[k] - overlap), k << 32) for k in range(workers)]
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
            parts = list(pool.map(_track_range_job, jobs))
        finished = parts[0]
        for k in range(1, workers):
            finished = _join_segments(finished, parts[k], starts[k], overlap)
    needed = min(options.min_track_frames, F)  # a take shorter than that keeps what it has
    kept = [s for s in finished if s.hits >= needed and s.records]
    kept = _stitch(kept, options)
    if options.max_people and len(kept) > options.max_people:
        seen = [sum(int((r[0] >= 0).sum()) for r in s.records.values()) for s in kept]
        order = np.argsort(seen, kind="stable")[::-1][: options.max_people]
        log.info("association: %d tracks, keeping the %d most seen (--max-people)", len(kept),
                 options.max_people)
        kept = [kept[i] for i in sorted(order)]
    kept.sort(key=lambda s: (min(s.records), s.ident))
    T = len(kept)
    chosen = np.full((T, V, F), -1, dtype=np.int64)
    affinity = np.full((T, V, F), np.nan)
    uncertain = np.zeros((T, F), dtype=bool)
    for k, state in enumerate(kept):
        positions = np.array(sorted(state.records), dtype=np.int64)
        chosen[k][:, positions] = np.stack([state.records[p][0] for p in positions], axis=1)
        affinity[k][:, positions] = np.stack([state.records[p][1] for p in positions], axis=1)
        uncertain[k, positions] = [state.records[p][2] for p in positions]
    tracks = tuple(_summary(k, chosen[k], uncertain[k], candidates) for k in range(T))
    log.info("association: %d people in %d framesets (%s)", T, F,
             ", ".join(f"person {t.person_id}: {t.num_framesets} framesets" for t in tracks))
    return PeopleAssociation(chosen=chosen, affinity_px=affinity, uncertain=uncertain,
                             tracks=tracks, candidates=candidates)


_SEGMENT_OVERLAP_FRAMES = 30  # framesets two parallel segments share (tracks are matched there)


def _track_range(points_2d: np.ndarray, scores: np.ndarray, rig, options, offset: int,
                 ident_base: int) -> list[_TrackState]:
    """Every track of framesets ``offset .. offset + F`` (points_2d (V, F, P, J, 2), scores
    (V, F, P, J) of those framesets); positions in the records are the take's."""
    geometry = _Geometry(rig)
    V, F, P, J, _ = points_2d.shape
    live = _Live(V, J)
    idents = itertools.count(ident_base)
    finished: list[_TrackState] = []
    chunk = max(1, min(options.frame_chunk, F))
    for start in range(0, F, chunk):
        stop = min(start + chunk, F)
        normalized = geometry.normalize(points_2d[:, start:stop])  # (V, f, P, J, 2)
        weights = np.nan_to_num(np.clip(scores[:, start:stop], 0, 1))
        weights = np.where(np.isfinite(normalized[..., 0]), np.maximum(weights, 1e-3), 0.0)
        present = (weights > 0).sum(axis=-1) >= options.min_common_joints  # (V, f, P)
        # Frameset-major and contiguous: each frameset's (V, P, ...) block is one slice.
        normalized, weights, present = (np.ascontiguousarray(np.swapaxes(a, 0, 1))
                                        for a in (normalized, weights, present))
        for f in range(stop - start):
            finished += _step(offset + start + f, normalized[f], weights[f], present[f],
                              live, geometry, options, idents)
    return finished + live.finished(np.ones(len(live), dtype=bool))


def _track_range_job(job) -> list[_TrackState]:
    return _track_range(*job)


def _join_segments(first: list[_TrackState], second: list[_TrackState], start: int,
                   overlap: int) -> list[_TrackState]:
    """Tracks of two consecutive segments that overlap on ``start - overlap .. start``: a track of
    the second continues the track of the first that chose the same candidates there (most
    view-framesets in common, one to one); the others start at ``start``."""
    shared = range(start - overlap, start)
    votes = np.zeros((len(second), len(first)), dtype=np.int64)
    for b, later in enumerate(second):
        for a, earlier in enumerate(first):
            for p in shared:
                if p in later.records and p in earlier.records:
                    x, y = later.records[p][0], earlier.records[p][0]
                    votes[b, a] += int(((x >= 0) & (x == y)).sum())
    joined = list(first)
    taken_a, taken_b = set(), set()
    for flat in np.argsort(-votes, axis=None, kind="stable"):
        b, a = divmod(int(flat), len(first)) if len(first) else (0, 0)
        if not len(first) or votes[b, a] < overlap // 3 or a in taken_a or b in taken_b:
            continue
        taken_a.add(a)
        taken_b.add(b)
        later, earlier = second[b], first[a]
        earlier.records.update({p: r for p, r in later.records.items() if p >= start})
        earlier.skeleton = later.skeleton
        earlier.hits += later.hits
    for b, later in enumerate(second):
        if b in taken_b:
            continue
        later.records = {p: r for p, r in later.records.items() if p >= start}
        if later.records:
            joined.append(later)
    return joined


def _summary(person: int, chosen: np.ndarray, uncertain: np.ndarray, candidates) -> Track:
    seen = (chosen >= 0).any(axis=0)
    positions = np.flatnonzero(seen)
    views, frames = np.nonzero(chosen >= 0)
    sizes = np.zeros(0)
    if views.size:
        pts = candidates.points_2d[views, frames, chosen[views, frames]]  # (K, J, 2)
        with np.errstate(invalid="ignore"), _quiet():
            sizes = np.hypot(*(np.nanmax(pts, axis=1) - np.nanmin(pts, axis=1)).T)
    return Track(person_id=person, first_position=int(positions[0]) if positions.size else -1,
                 last_position=int(positions[-1]) if positions.size else -1,
                 num_framesets=int(positions.size), view_framesets=int((chosen >= 0).sum()),
                 uncertain_framesets=int((uncertain & seen).sum()),
                 mean_size_px=float(np.nanmean(sizes)) if np.isfinite(sizes).any() else 0.0)


class _quiet:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


def _step(position: int, normalized: np.ndarray, weights: np.ndarray,
          present: np.ndarray, live: _Live, geometry: _Geometry, options,
          idents) -> list[_TrackState]:
    """One frameset: tracks claim candidates, people are triangulated, new people from the rest.
    Returns the tracks that ended (the live set is updated in place)."""
    V, P, J, _ = normalized.shape
    T = len(live)
    assigned = np.full((T, V), -1, dtype=np.int64)
    ambiguous = np.zeros((T, V), dtype=bool)
    predicted = live.predict(position)  # (T, J, 3)
    gate = options.track_gate_m + options.max_speed_m_per_frame * np.maximum(
        position - live.last - 1, 0)  # (T,)
    linking = options.continuity_weight > 0
    outliers = None
    if T and linking:
        cost_m, distance = _claim_costs(predicted, normalized, weights, present, geometry,
                                        options.min_common_joints)
        allowed = cost_m < gate[None, :, None]
        conflict = (allowed.sum(axis=2).max(axis=1) > 1) | (allowed.sum(axis=1).max(axis=1) > 1)
        v_idx, t_idx, p_idx = np.nonzero(allowed & ~conflict[:, None, None])
        assigned[t_idx, v_idx] = p_idx  # no conflict in these views: nothing to optimise
        masked = np.where(allowed, cost_m, _FAR)
        for v in np.flatnonzero(conflict):
            rows, cols = linear_sum_assignment(masked[v])
            keep = masked[v, rows, cols] < _FAR  # allowed
            assigned[rows[keep], v] = cols[keep]
        # Ambiguous: another candidate (for the track) or another track (for the candidate)
        # within ambiguity_m of the chosen match.
        t_idx, v_idx = np.nonzero(assigned >= 0)
        if t_idx.size:
            p_idx = assigned[t_idx, v_idx]
            best = cost_m[v_idx, t_idx, p_idx]
            rows = cost_m[v_idx, t_idx].copy()  # (K, P)
            rows[np.arange(t_idx.size), p_idx] = np.inf
            columns = cost_m[v_idx, :, p_idx].copy()  # (K, T)
            columns[np.arange(t_idx.size), t_idx] = np.inf
            runner_up = np.minimum(rows.min(axis=1), columns.min(axis=1))
            ambiguous[t_idx, v_idx] = runner_up < best + options.ambiguity_m
            # Joints far from the prediction are gross errors: out before triangulating.
            outliers = np.zeros((T, V, J), dtype=bool)
            outliers[t_idx, v_idx] = ~(distance[v_idx, t_idx, p_idx] * geometry.focal[v_idx, None]
                                       < 2 * options.joint_reject_px)
    points, assigned = _triangulate_groups(assigned, weights, normalized, geometry, options,
                                           outliers)
    taken = np.zeros((V, P), dtype=bool)
    t_idx, v_idx = np.nonzero(assigned >= 0)
    taken[v_idx, assigned[t_idx, v_idx]] = True
    groups = _partition(present & ~taken, normalized, geometry, options)
    if groups:
        group_assign = np.full((len(groups), V), -1, dtype=np.int64)
        for g, members in enumerate(groups):
            for v, p in members:
                group_assign[g, v] = p
        new_points, group_assign = _triangulate_groups(group_assign, weights, normalized,
                                                       geometry, options)
        centres = _centroid(new_points)  # (G, 3)
        lost = (assigned >= 0).sum(axis=1) < 2
        if linking:
            lost &= np.isfinite(live.skeleton).any(axis=(1, 2))
        else:
            lost[:] = False
        track_centres = _centroid(predicted)
        for g in np.argsort(-(group_assign >= 0).sum(axis=1), kind="stable"):
            if (group_assign[g] >= 0).sum() < options.min_views or not np.isfinite(centres[g]).all():
                continue
            # Re-acquire a track that lost (most of) its views, if one is near enough.
            d = np.where(lost, np.linalg.norm(track_centres - centres[g], axis=-1), np.inf)
            d[~(d < 1.5 * gate)] = np.inf
            if d.size and np.isfinite(d.min()):
                t = int(np.argmin(d))
                assigned[t], points[t], ambiguous[t], lost[t] = group_assign[g], new_points[g], False, False
                continue
            if options.max_people and len(live) >= options.max_people:
                continue
            live.add(new_points[g], position, next(idents))
            assigned = np.vstack([assigned, group_assign[g][None]])
            ambiguous = np.vstack([ambiguous, np.zeros((1, V), dtype=bool)])
            points = np.concatenate([points, new_points[g][None]])
            predicted = np.concatenate([predicted, new_points[g][None]])
            gate = np.append(gate, options.track_gate_m)
            lost = np.append(lost, False)
            track_centres = np.concatenate([track_centres, centres[g][None]])
    T = len(live)
    if T == 0:
        return []
    # Evidence: each chosen candidate's distance to the person's skeleton (or prediction).
    seen = assigned >= 0  # (T, V)
    affinity = _affinities(points, predicted, assigned, normalized, geometry)  # (T, V)
    uncertain = (seen & ~ambiguous).sum(axis=1) < 2
    for t in np.flatnonzero(seen.any(axis=1)):
        live.records[t][position] = (assigned[t].copy(), affinity[t], bool(uncertain[t]))
    # State: skeletons, velocities, hits and misses.
    finite = np.isfinite(points).all(axis=-1)  # (T, J)
    triangulated = (seen.sum(axis=1) >= 2) & finite.any(axis=-1)
    ok = finite & triangulated[:, None]
    # the centroids of the joints triangulated now, before and after (one call for both)
    before, after = _centroid(np.where(ok[..., None], np.stack([live.skeleton, points]), np.nan))
    live.skeleton = np.where(ok[..., None], points, live.skeleton)
    step = np.maximum(position - live.last, 1)[:, None]
    moved = triangulated & (live.hits > 0) & np.isfinite(before).all(axis=-1) & \
        np.isfinite(after).all(axis=-1)
    live.velocity = np.where(moved[:, None], 0.5 * live.velocity + 0.5 * (after - before) / step,
                             live.velocity)
    live.last = np.where(triangulated, position, live.last)
    live.hits = live.hits + triangulated
    live.misses = np.where(triangulated, 0, live.misses + 1)
    live.velocity = live.velocity * np.where(live.misses > 0, 0.8, 1.0)[:, None]
    tentative_lost = (live.hits < options.min_track_frames) & (live.misses >= 2)
    dead = ~tentative_lost & (live.misses > options.max_gap_frames)
    if not linking:
        dead = ~tentative_lost & np.ones(T, dtype=bool)
    ended = live.finished(dead)
    if (tentative_lost | dead).any():
        live.keep(~(tentative_lost | dead))
    return ended


def _partition(free: np.ndarray, normalized: np.ndarray, geometry: _Geometry,
               options) -> list[list[tuple[int, int]]]:
    """Groups (lists of (view, candidate)) of the free candidates, at most one per view."""
    views, slots = np.nonzero(free)
    n = views.size
    if n < 2 or np.count_nonzero(free.any(axis=1)) < options.min_views:
        return []
    from ._people_kernels import pairwise_epipolar

    matrix = np.empty((n, n))
    pairwise_epipolar(normalized, views.astype(np.int64), slots.astype(np.int64),
                      geometry.essential, geometry.focal, int(options.min_common_joints), matrix)
    threshold = options.epipolar_threshold_px
    a, b = np.nonzero(matrix < threshold)  # row-major; symmetric, inf on the diagonal
    upper = a < b
    a, b = a[upper], b[upper]
    if a.size == 0:
        return []
    edges = np.argsort(matrix[a, b], kind="stable")
    cluster = list(range(n))
    members = {i: [i] for i in range(n)}
    for e in edges:
        ca, cb = cluster[a[e]], cluster[b[e]]
        if ca == cb:
            continue
        ma, mb = members[ca], members[cb]
        if set(views[ma]) & set(views[mb]):
            continue
        link = np.minimum(matrix[np.ix_(ma, mb)], 2 * threshold)
        if link.mean() >= threshold:
            continue
        for i in mb:
            cluster[i] = ca
        members[ca] = ma + mb
        del members[cb]
    return [[(int(views[i]), int(slots[i])) for i in group] for group in members.values()
            if len(group) >= options.min_views]


def _stitch(tracks: list[_TrackState], options) -> list[_TrackState]:
    """Join a track that ends with one that starts nearby soon after (the same person)."""
    if len(tracks) < 2 or options.stitch_gap_frames <= 0:
        return tracks
    tracks = sorted(tracks, key=lambda s: min(s.records))
    merged = True
    while merged:
        merged = False
        best = None
        for i, first in enumerate(tracks):
            end = max(first.records)
            for j, second in enumerate(tracks):
                begin = min(second.records)
                gap = begin - end
                if i == j or gap <= 0 or gap > options.stitch_gap_frames:
                    continue
                d = float(np.linalg.norm(_centroid(first.skeleton) - _centroid(second.first_skeleton)))
                allowed = options.track_gate_m + options.max_speed_m_per_frame * gap
                if d < allowed and (best is None or d < best[0]):
                    best = (d, i, j)
        if best is not None:
            _, i, j = best
            tracks[i].records.update(tracks[j].records)
            tracks[i].skeleton = tracks[j].skeleton
            tracks[i].hits += tracks[j].hits
            del tracks[j]
            merged = True
    return tracks


def compile_association_kernels(*, notify=None, notify_after_s: float = 5.0) -> float:
    """Compile (or load from the cache) the association's kernels on a tiny scene, so that the
    pause happens when the caller chooses. notify: as :func:`geometry.compile_kernels`."""
    from geometry import Camera, Rig
    from geometry.kernel_warmup import run_announced

    from .association import PersonCandidates

    def work() -> None:
        K = np.array([[1000.0, 0.0, 640.0], [0.0, 1000.0, 360.0], [0.0, 0.0, 1.0]])
        rig = Rig([Camera("a", (1280, 720), K, np.zeros(5), np.eye(3), np.zeros(3)),
                   Camera("b", (1280, 720), K, np.zeros(5), np.eye(3), np.array([-1.0, 0.0, 0.0]))])
        body = np.array([[0.0, 0.0, 3.0], [0.1, 0.2, 3.1], [-0.1, 0.3, 3.0], [0.0, 0.5, 3.2]])
        points = np.stack([rig.project(body + [0.01 * f, 0, 0]) for f in range(3)], axis=1)
        candidates = PersonCandidates(points_2d=points[:, :, None], scores=np.ones(points.shape[:-1])[:, :, None],
                                      camera_names=("a", "b"), joint_names=("0", "1", "2", "3"),
                                      frame_index=np.arange(3), timestamp_s=np.arange(3) / 30.0)
        associate_people(candidates, rig)

    return run_announced(work, notify=notify, notify_after_s=notify_after_s,
                         what="the association kernels", how_long="compiled once per install")
