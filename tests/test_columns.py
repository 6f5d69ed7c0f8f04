"""mlos.columns: aligned rows and byte counts, as the CLIs and benchmarks print them."""

from __future__ import annotations

from mlos.columns import aligned, human_bytes


def test_columns_fit_their_widest_cell_and_lines_end_without_spaces() -> None:
    text = aligned(["NAME", "PID", "X"], [("onnx", 1234, ""), ("tensorflow", None, "")])
    assert text.splitlines() == [
        "NAME        PID   X",
        "----------  ----  -",
        "onnx        1234",
        "tensorflow  None",
    ]


def test_headers_alone() -> None:
    assert aligned(["A", "BB"], []) == "A  BB\n-  --"


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1024, 1536, 3 * 2**30, 5 * 2**40, 3 * 2**50)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "3.0 GiB", "5.0 TiB", "3072.0 TiB",
    ]
