"""`siyu clv fit` on CDNOW's own transaction file and on a plain CSV."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

lifetimes = pytest.importorskip("lifetimes")
CDNOW_SAMPLE = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_sample.txt"


def run_fit(*args: str) -> str:
    out = StringIO()
    call_command("clv", "fit", *args, stdout=out)
    return out.getvalue()


def test_fit_on_cdnow_transactions_reproduces_the_published_parameters():
    # CDNOW_sample.txt: customer id, master id, yyyymmdd, CDs, dollars; space separated, no header
    out = run_fit(
        "--transactions",
        str(CDNOW_SAMPLE),
        "--sep",
        "whitespace",
        "--no-header",
        "--customer-col",
        "1",
        "--date-col",
        "3",
        "--amount-col",
        "5",
        "--calibration-end",
        "1997-09-30",
        "--unit",
        "week",
        "--json",
    )
    data = json.loads(out)
    assert data["customers"] == 2357
    bg = data["bgnbd"]
    assert [round(bg[k], 3) for k in ("r", "alpha", "a", "b")] == [0.243, 4.414, 0.793, 2.426]
    gg = data["gamma_gamma"]
    assert gg["customers"] == 946
    assert round(gg["p"], 1) == 6.2 and round(gg["q"], 1) == 3.7 and round(gg["gamma"]) == 15
    holdout = data["holdout"]
    assert holdout["start"] == "1997-10-01" and holdout["end"] == "1998-06-30"
    assert holdout["length"] == pytest.approx(39.0)
    assert holdout["customers"] == 2357
    # every purchase day after the calibration end by the 2,357 customers counts once
    assert holdout["actual_repeat_purchases"] == 1882
    # the model under-predicts the holdout by about 12% on this sample (FHL 2005, figure 3)
    assert 1500 < holdout["expected_repeat_purchases"] < 1882
    zero = holdout["by_frequency"][0]
    assert zero["frequency"] == 0 and zero["customers"] == 1411
    assert zero["expected_mean"] == pytest.approx(zero["actual_mean"], abs=0.05)


def test_fit_reads_a_plain_csv_in_days_and_prints_a_report(tmp_path):
    rows = ["member,paid_at,amount"]
    # 30 customers: a third buy every 10 days, a third once, a third twice then stop
    for c in range(30):
        if c % 3 == 0:
            days = range(1, 90, 10)
        elif c % 3 == 1:
            days = [c]
        else:
            days = [2, 12]
        rows += [f"m{c},2026-01-{1 + d % 28:02d} 10:00:00,{20 + c}" for d in days]
        rows += [f"m{c},2026-0{2 + d // 28}-{1 + d % 28:02d} 09:30:00,{20 + c}" for d in days[:1]]
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(rows) + "\n")
    out = run_fit(
        "--transactions",
        str(path),
        "--customer-col",
        "member",
        "--date-col",
        "paid_at",
        "--amount-col",
        "amount",
        "--calibration-end",
        "2026-01-31",
        "--unit",
        "day",
    )
    assert "customers: 30" in out
    assert "BG/NBD" in out and "alpha" in out
    assert "Gamma-Gamma" in out
    assert "holdout: 2026-02-01" in out


def test_fit_names_the_missing_column():
    with pytest.raises(CommandError, match="amount_yuan"):
        run_fit(
            "--transactions",
            str(CDNOW_SAMPLE),
            "--sep",
            "whitespace",
            "--no-header",
            "--customer-col",
            "1",
            "--date-col",
            "3",
            "--amount-col",
            "amount_yuan",
        )


def test_fit_refuses_data_without_repeat_purchases(tmp_path):
    path = tmp_path / "once.csv"
    path.write_text("c,d\na,2026-01-01\nb,2026-01-02\nc,2026-01-05\n")
    with pytest.raises(CommandError, match="repeat purchase"):
        run_fit("--transactions", str(path), "--customer-col", "c", "--date-col", "d")
