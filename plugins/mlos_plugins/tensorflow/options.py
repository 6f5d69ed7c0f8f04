"""Load options of the tensorflow plugin: the `config` strings of a model, parsed and checked.

================================  ===========================================================
``signature``                     the SavedModel or TFLite signature to serve; by default
                                  ``serving_default``, or the only one there is
``tags``                          SavedModel MetaGraph tags, comma-separated; by default
                                  ``serve`` when the SavedModel has it, else its only one
``loader``                        SavedModels: ``auto`` (default: the TF2 loader, then the
                                  TF1 session loader when TF2 cannot restore the model),
                                  ``v2`` or ``v1``
``intra_op_threads``              threads inside one operator; by default the CPUs this
                                  plugin process may run on. TFLite interpreters take it per
                                  model; SavedModels (either loader) and Keras models share
                                  the process's pools, sized by the first model loaded
``max_batch_size``                the largest batch reported for a model whose inputs and
                                  outputs all lead with a dynamic dimension; ``0`` turns
                                  batching off
``axon.*``                        set by ``axon deploy``; ignored
================================  ===========================================================

An unknown option or a bad value is an `InvalidArgument` that names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlos.errors import InvalidArgument
from mlos.sdk.options import OPTION_HELP, available_cpus, check_known, count_option

__all__ = ["OPTIONS", "TensorFlowConfig", "available_cpus"]

DEFAULT_SIGNATURE = "serving_default"

OPTIONS: dict[str, str] = {
    "signature": f"signature to serve (default {DEFAULT_SIGNATURE}, or the only one)",
    "tags": "SavedModel MetaGraph tags, comma-separated (default serve)",
    "loader": "auto (default) | v2 | v1, for SavedModels",
    "intra_op_threads": "threads inside one operator (default: the CPUs of the process)",
    "max_batch_size": OPTION_HELP["max_batch_size"],
}
_LOADERS = ("auto", "v2", "v1")


@dataclass(frozen=True, slots=True)
class TensorFlowConfig:
    """The parsed load options of one model."""

    intra_op_threads: int
    signature: str | None = None
    tags: tuple[str, ...] | None = None
    loader: str = "auto"
    max_batch_size: int | None = None

    @classmethod
    def parse(cls, config: Mapping[str, str]) -> TensorFlowConfig:
        """Parse a model's `config`; raise InvalidArgument for unknown options or bad values."""
        check_known(config, OPTIONS, "tensorflow")
        loader = (config.get("loader") or "auto").strip().lower()
        if loader not in _LOADERS:
            raise InvalidArgument(
                f"config loader={loader!r}: expected one of {', '.join(_LOADERS)}"
            )
        raw_tags = config.get("tags")
        tags = (
            tuple(tag.strip() for tag in raw_tags.split(",") if tag.strip())
            if raw_tags and raw_tags.strip()
            else None
        )
        signature = (config.get("signature") or "").strip() or None
        return cls(
            intra_op_threads=count_option(config, "intra_op_threads") or available_cpus(),
            signature=signature,
            tags=tags,
            loader=loader,
            max_batch_size=count_option(config, "max_batch_size"),
        )
