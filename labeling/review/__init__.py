"""Reviewing pseudo-labels: ``rigkit label review DIR`` (a local web app) and its review file.

- :mod:`.verdicts`: ``review.json`` beside the shards (load, apply to ``valid``); what
  ``ShardDataset`` and ``rigkit label export`` read. Light: numpy only.
- :mod:`.store`: framesets streamed from the shards, the summary behind the timeline and the
  filters, frames from the recorded session.
- :mod:`.server`: the standard library's ``ThreadingHTTPServer`` serving ``static/`` (vanilla
  JavaScript, canvas 2D) with a token in the URL.
"""

from .verdicts import REVIEW_NAME, Review, Verdict, apply_review, load_review

__all__ = ["REVIEW_NAME", "Review", "Verdict", "apply_review", "load_review"]
