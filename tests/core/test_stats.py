"""Per-model statistics: what each success and failure adds, in Triton's message."""

from __future__ import annotations

import asyncio

from mlos.core.stats import FailureReason, ModelStats, StatsBook, failure_reason
from mlos.errors import DeadlineExceeded, InvalidArgument, ResourceExhausted, Unavailable


def test_a_success_counts_once_in_every_phase_and_its_batch() -> None:
    stats = ModelStats("m", "1")
    stats.record_success(4, queue_ns=10, input_ns=20, infer_ns=300, output_ns=5)
    stats.record_success(1, queue_ns=1, input_ns=2, infer_ns=30, output_ns=0)
    message = stats.to_proto()
    assert (message.inference_count, message.execution_count) == (5, 2)
    phases = message.inference_stats
    assert (phases.success.count, phases.success.ns) == (2, 335 + 33)
    assert (phases.queue.count, phases.queue.ns) == (2, 11)
    assert (phases.compute_input.count, phases.compute_input.ns) == (2, 22)
    assert (phases.compute_infer.count, phases.compute_infer.ns) == (2, 330)
    assert (phases.compute_output.count, phases.compute_output.ns) == (2, 5)
    assert phases.fail.count == 0
    batches = {b.batch_size: b for b in message.batch_stats}
    assert sorted(batches) == [1, 4]
    assert batches[4].compute_infer.ns == 300 and batches[4].compute_output.count == 1
    assert message.last_inference > 0


def test_failures_count_by_reason() -> None:
    stats = ModelStats("m", "1")
    stats.record_failure(100, FailureReason.BACKEND)
    stats.record_failure(50, FailureReason.BACKEND)
    stats.record_failure(7)
    assert stats.failures == {FailureReason.BACKEND: 2, FailureReason.OTHER: 1}
    fail = stats.to_proto().inference_stats.fail
    assert (fail.count, fail.ns) == (3, 157)


def test_failure_reasons_follow_where_and_how_a_request_failed() -> None:
    assert failure_reason(InvalidArgument("bad shape"), in_backend=False) is FailureReason.OTHER
    assert failure_reason(ResourceExhausted("queue full"), False) is FailureReason.REJECTED
    assert failure_reason(Unavailable("plugin died"), in_backend=True) is FailureReason.BACKEND
    assert failure_reason(ResourceExhausted("out of memory"), True) is FailureReason.BACKEND
    assert failure_reason(DeadlineExceeded("late"), True) is FailureReason.CANCELED
    assert failure_reason(asyncio.CancelledError(), False) is FailureReason.CANCELED


def test_the_book_lists_and_drops_versions() -> None:
    book = StatsBook()
    book.of("b", "1").record_failure(1)
    book.of("a", "2")
    book.of("a", "10")
    assert [(s.name, s.version) for s in book.all()] == [("a", "10"), ("a", "2"), ("b", "1")]
    assert book.of("b", "1").fail.count == 1
    book.drop("b", "1")
    assert book.of("b", "1").fail.count == 0
