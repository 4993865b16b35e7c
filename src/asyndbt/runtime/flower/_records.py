"""Convert our wire dataclasses to Flower ``RecordDict`` payloads and back: the only place they meet.

A message becomes three records: ``arrays`` (an ``ArrayRecord``: every numpy field, e.g. ``p``,
``z``), ``metrics`` (a ``MetricRecord``: float fields such as ``loss_mean``) and ``meta`` (a
``ConfigRecord``: the message ``type``, ``schema_version`` and integer counters). Nothing else is
added, so what crosses the wire is exactly what :meth:`to_dict` of the dataclass holds (see
docs/flower.md, "What crosses the wire").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from asyndbt import algorithm as alg
from asyndbt.errors import RunError
from asyndbt.optim import decode_array, encode_array

_TYPES = {cls.__name__: cls for cls in (alg.ServerUpdate, alg.WorkerReport)}


def _is_encoded_array(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"dtype", "shape", "data"}


def to_record(message: alg.ServerUpdate | alg.WorkerReport) -> RecordDict:
    """A ``RecordDict`` holding one ``ServerUpdate`` or ``WorkerReport``."""
    arrays: dict[str, Array] = {}
    metrics: dict[str, float] = {}
    meta: dict[str, Any] = {}
    for key, value in message.to_dict().items():
        if _is_encoded_array(value):
            arrays[key] = Array(np.ascontiguousarray(decode_array(value)))
        elif isinstance(value, float):
            metrics[key] = value
        else:  # int counters, the type name and schema_version
            meta[key] = value
    return RecordDict({"arrays": ArrayRecord(arrays), "metrics": MetricRecord(metrics), "meta": ConfigRecord(meta)})


def from_record(content: RecordDict) -> alg.ServerUpdate | alg.WorkerReport:
    """Rebuild the dataclass written by :func:`to_record` (its ``from_dict`` checks type and schema)."""
    try:
        meta = dict(content["meta"])
        arrays = content["arrays"]
        metrics = content["metrics"]
    except KeyError as exc:
        raise RunError(f"Flower payload lacks record {exc}; the peer runs a different asyndbt version") from exc
    cls = _TYPES.get(str(meta.get("type")))
    if cls is None:
        raise RunError(f"Flower payload has message type {meta.get('type')!r}; expected one of {sorted(_TYPES)}")
    d: dict[str, Any] = dict(meta)
    for key, arr in arrays.items():
        d[key] = encode_array(arr.numpy())
    d.update({k: float(v) for k, v in metrics.items()})
    return cls.from_dict(d)
