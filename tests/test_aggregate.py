"""onepass.records.aggregate on synthetic chunk files (no Snakemake, no training)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from onepass.io_utils import sha256_file
from onepass.records.aggregate import FINAL_COLUMNS, AggregationError, aggregate, is_best_tag, main, pair_chunks

ORDER = ["Random", "Random_Validation", "Ours_LR_Momentum"]


def write_chunk(folder: Path, algorithm: str, seeds: list[int], values=None, string_tags: bool = False,
                diverged: dict | None = None) -> Path:
    """A chunk in the CLI's format: 3 steps x 3 tags per seed, value = seed + step / 10 (losses)."""
    tags = ["Loss/Test", "Hyperparameter/Lr", "Last_Loss/Training"]
    rows = {"seed": [], "step": [], "tag": [], "value": [], "wall_time": []}
    for seed in seeds:
        for step in range(3):
            for tag in tags:
                rows["seed"].append(seed)
                rows["step"].append(step)
                rows["tag"].append(tag)
                value = seed + step / 10 if values is None else values(seed, step, tag)
                rows["value"].append(value)
                rows["wall_time"].append(1.7e9 + step)
    tag_array = pa.array(rows["tag"]) if string_tags else pa.array(rows["tag"]).dictionary_encode()
    table = pa.table({
        "seed": pa.array(rows["seed"], pa.int32()),
        "step": pa.array(rows["step"], pa.int32()),
        "tag": tag_array,
        "value": pa.array(rows["value"], pa.float64()),
        "wall_time": pa.array(rows["wall_time"], pa.float64()),
    })
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"seeds{seeds[0]:03d}-{seeds[-1]:03d}"
    pq.write_table(table, stem.with_suffix(".parquet"))
    runs = []
    for seed in seeds:
        status = "diverged" if diverged and seed in diverged else "ok"
        runs.append({
            "seed": seed, "status": status,
            "diverged_at_step": (diverged or {}).get(seed), "reason": None,
            "initial_hyperparameters": {"lr": 10.0 ** -seed, "weight_decay": 1e-4, "momentum": 0.5,
                                        "lr_multiplier": 1.0},
            "final": {"Loss/Test": seed + 0.2, "Hyperparameter/Lr": 0.01, "Accuracy/Test": None},
            "final_full_validation_loss": 0.5, "train_seconds": 1.0, "wall_seconds": 2.0,
            "peak_memory_mb": 10.0, "steps_completed": 30,
        })
    summary = {"algorithm": algorithm, "dataset": "uci_energy", "experiment": "exp", "config": {}, "runs": runs,
               "scalars_sha256": sha256_file(stem.with_suffix(".parquet"))}
    stem.with_suffix(".json").write_text(json.dumps(summary))
    return stem


def chunk_files(*stems: Path) -> list[str]:
    return [str(stem.with_suffix(suffix)) for stem in stems for suffix in (".parquet", ".json")]


def test_concatenates_and_orders_algorithms(tmp_path):
    runs = tmp_path / "runs"
    stems = [
        write_chunk(runs / "Ours_LR_Momentum", "Ours_LR_Momentum", [0, 1, 2]),
        write_chunk(runs / "Random", "Random", [2], string_tags=True),  # plain-string tags accepted
        write_chunk(runs / "Random", "Random", [0, 1]),
    ]
    counts = aggregate(chunk_files(*stems), "exp", tmp_path / "exp.parquet", tmp_path / "exp_final.csv",
                       algorithm_order=ORDER)
    assert counts == {"chunks": 3, "runs": 6, "rows": 6 * 3 * 3}

    table = pq.read_table(tmp_path / "exp.parquet")
    assert table.column_names == ["algorithm", "seed", "step", "tag", "value", "wall_time"]
    assert table.schema.field("seed").type == pa.int32()
    assert table.schema.field("step").type == pa.int32()
    assert table.schema.field("value").type == pa.float64()
    frame = table.to_pandas()
    assert list(frame["algorithm"].astype(str).drop_duplicates()) == ["Random", "Ours_LR_Momentum"]
    assert len(frame.drop_duplicates(["algorithm", "seed", "step", "tag"])) == len(frame)
    assert set(frame.loc[frame["algorithm"] == "Random", "seed"]) == {0, 1, 2}

    final = pd.read_csv(tmp_path / "exp_final.csv")
    assert list(final.columns[: len(FINAL_COLUMNS)]) == FINAL_COLUMNS
    assert list(zip(final["algorithm"], final["seed"], strict=True)) == [
        ("Random", 0), ("Random", 1), ("Random", 2),
        ("Ours_LR_Momentum", 0), ("Ours_LR_Momentum", 1), ("Ours_LR_Momentum", 2),
    ]
    assert (final["experiment"] == "exp").all()
    assert final.loc[2, "init_lr"] == pytest.approx(1e-2)
    assert final.loc[2, "Loss/Test"] == pytest.approx(2.2)  # the JSON's final value
    assert math.isnan(final.loc[2, "Accuracy/Test"])  # null in JSON -> NaN
    # best = minimum over steps for losses only (Last_ variants included), not hyperparameters
    assert final.loc[2, "best:Loss/Test"] == pytest.approx(2.0)
    assert "best:Last_Loss/Training" in final.columns
    assert "best:Hyperparameter/Lr" not in final.columns
    # no temporary files left beside the outputs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.parquet", "exp_final.csv", "runs"]


def test_best_skips_nan_unless_all_nan(tmp_path):
    def values(seed, step, tag):
        if seed == 0:
            return np.nan if step == 2 else 5.0 - step  # diverged at the last step: best stays 4
        return np.nan  # every value NaN

    stem = write_chunk(tmp_path / "runs", "Random", [0, 1], values=values, diverged={0: 2, 1: 0})
    aggregate(chunk_files(stem), "exp", tmp_path / "e.parquet", tmp_path / "e.csv")
    final = pd.read_csv(tmp_path / "e.csv").set_index("seed")
    assert final.loc[0, "best:Loss/Test"] == pytest.approx(4.0)
    assert math.isnan(final.loc[1, "best:Loss/Test"])
    assert list(final["status"]) == ["diverged", "diverged"]
    assert list(final["diverged_at_step"]) == [2, 0]


def test_pairs_parquet_only_arguments(tmp_path):
    stem = write_chunk(tmp_path / "runs", "Random", [0])
    assert pair_chunks([stem.with_suffix(".parquet")]) == [(stem.with_suffix(".parquet"), stem.with_suffix(".json"))]


@pytest.mark.parametrize(
    "broken", ["missing json", "duplicate run", "not a chunk", "bad json", "json of another run", "json without sha"]
)
def test_errors_name_the_file(tmp_path, broken):
    first = write_chunk(tmp_path / "runs" / "Random", "Random", [0, 1])
    files = chunk_files(first)
    culprit = first.with_suffix(".json")
    if broken == "missing json":
        culprit.unlink()
        files = [str(first.with_suffix(".parquet"))]
    elif broken == "duplicate run":
        culprit = write_chunk(tmp_path / "runs" / "Random2", "Random", [1, 2]).with_suffix(".json")
        files += chunk_files(culprit.with_suffix(""))
    elif broken == "not a chunk":
        culprit = tmp_path / "runs" / "notes.txt"
        files.append(str(culprit))
    elif broken == "json of another run":  # a rerun replaced the table but not the summary
        other = write_chunk(tmp_path / "other", "Random", [0, 1], values=lambda seed, step, tag: 7.0)
        culprit.write_bytes(other.with_suffix(".json").read_bytes())
    elif broken == "json without sha":
        summary = json.loads(culprit.read_text())
        del summary["scalars_sha256"]
        culprit.write_text(json.dumps(summary))
    else:
        culprit.write_text("{not json")
    with pytest.raises(AggregationError, match=culprit.name):
        aggregate(files, "exp", tmp_path / "e.parquet", tmp_path / "e.csv")
    assert not (tmp_path / "e.parquet").exists() and not (tmp_path / "e.csv").exists()


def test_command_line(tmp_path, capsys):
    stem = write_chunk(tmp_path / "runs", "Random", [0, 1])
    status = main(["--experiment", "exp", "--parquet", str(tmp_path / "o.parquet"),
                   "--final", str(tmp_path / "o.csv"), str(stem.with_suffix(".parquet"))])
    assert status == 0
    assert "2 runs" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "o.csv")) == 2
    assert main(["--experiment", "exp", "--parquet", str(tmp_path / "p.parquet"),
                 "--final", str(tmp_path / "p.csv"), str(tmp_path / "nothing.parquet")]) == 1
    assert "error:" in capsys.readouterr().err


def test_best_tags():
    assert is_best_tag("Loss/Test") and is_best_tag("Unnormalised_Loss/Test")
    assert is_best_tag("Perplexity/Test") and is_best_tag("Last_Loss/Validation")
    assert not is_best_tag("Accuracy/Test") and not is_best_tag("Hyperparameter/Lr")


def _rewrite(stem: Path, edit) -> None:
    """Change a chunk's JSON and record the sha256 of its (possibly replaced) table again, as a
    careful forger would: only the checks against the job can then catch it."""
    summary = json.loads(stem.with_suffix(".json").read_text())
    edit(summary, stem)
    summary["scalars_sha256"] = sha256_file(stem.with_suffix(".parquet"))
    stem.with_suffix(".json").write_text(json.dumps(summary))


def _empty_table(summary: dict, stem: Path) -> None:
    pq.write_table(pq.read_table(stem.with_suffix(".parquet")).slice(0, 0), stem.with_suffix(".parquet"))


# name: (edit of a chunk at runs/exp/Random/seeds000-001, words of the error)
FORGED_CHUNKS = {
    "another algorithm's name": (lambda s, _: s.update(algorithm="Ours_LR_Momentum"),
                                 "a chunk of algorithm 'Ours_LR_Momentum' in the folder of Random"),
    "another experiment": (lambda s, _: s.update(experiment="other"), "a chunk of experiment 'other', not of 'exp'"),
    "a seed as text": (lambda s, _: s["runs"][0].update(seed="0"), "runs[0].seed is '0', not a non-negative integer"),
    "a seed twice": (lambda s, _: s["runs"][1].update(seed=0), "holds seeds [0, 0], but the chunk is seeds000-001"),
    "a run without seed": (lambda s, _: s["runs"][0].pop("seed"), "runs[0] is not a run summary with a 'seed'"),
    "runs as text": (lambda s, _: s.update(runs="0,1"), "'runs' is not a list"),
    "runs of text": (lambda s, _: s.update(runs=["0", "1"]), "runs[0] is not a run summary"),
    "algorithm not a name": (lambda s, _: s.update(algorithm=["Random"]), "'algorithm' is not a name"),
    "an empty table": (_empty_table, "holds no rows, but its summary lists 2 runs"),
}


@pytest.mark.parametrize("case", list(FORGED_CHUNKS))
def test_a_chunk_must_be_the_job_its_path_names(tmp_path, case):
    edit, words = FORGED_CHUNKS[case]
    stem = write_chunk(tmp_path / "runs" / "exp" / "Random", "Random", [0, 1])
    _rewrite(stem, edit)
    with pytest.raises(AggregationError) as caught:
        aggregate(chunk_files(stem), "exp", tmp_path / "e.parquet", tmp_path / "e.csv")
    message = str(caught.value)
    assert "\n" not in message and stem.name in message and words in message, message
    assert not (tmp_path / "e.parquet").exists() and not (tmp_path / "e.csv").exists()


def test_a_summary_that_is_not_text_is_named(tmp_path):
    stem = write_chunk(tmp_path / "runs" / "exp" / "Random", "Random", [0, 1])
    stem.with_suffix(".json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(AggregationError, match=r"seeds000-001\.json: cannot read chunk summary: not UTF-8 text$"):
        aggregate(chunk_files(stem), "exp", tmp_path / "e.parquet", tmp_path / "e.csv")


def _trial_chunk(source: str, seed: int, trials: int, algorithm: str = "BayesOpt", with_trial: bool = True):
    """A chunk-shaped table with a `trial` key (as a BayesOpt repetition becomes), and its rows."""
    from onepass.records.aggregate import ChunkTable, run_row
    from onepass.records.chunk_files import chunk_schema, with_algorithm

    n = 2 * trials  # two steps of Loss/Test per trial; trial t at step s logs 10 * t + 5 - s
    columns = {
        "seed": [seed] * n,
        "step": [s for _ in range(trials) for s in range(2)],
        "tag": ["Loss/Test"] * n,
        "value": [10.0 * t + 5 - s for t in range(trials) for s in range(2)],
        "wall_time": [float(k) for k in range(n)],
    }
    if with_trial:
        columns["trial"] = [t for t in range(trials) for _ in range(2)]
    table = with_algorithm(pa.table(columns).cast(chunk_schema(with_trial)), algorithm)
    runs = [{"seed": seed, "trial": t, "status": "ok", "final": {"Loss/Test": 10.0 * t + 4}} for t in range(trials)]
    rows = [{**run_row("exp", algorithm, run), **({"trial": run["trial"]} if with_trial else {})} for run in runs]
    return ChunkTable(Path(source), algorithm, table, rows)


def test_chunks_with_a_trial_key_take_the_same_path(tmp_path):
    from onepass.records.aggregate import aggregate_chunks

    chunks = [_trial_chunk("rep001.json", 1, 2), _trial_chunk("rep000.json", 0, 3)]
    runs, rows = aggregate_chunks("exp", chunks, tmp_path / "e.parquet", tmp_path / "e_final.csv")
    assert (runs, rows) == (5, 10)
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.column_names == ["algorithm", "seed", "step", "tag", "value", "wall_time", "trial"]
    final = pd.read_csv(tmp_path / "e_final.csv")
    assert list(final.columns[:4]) == ["experiment", "algorithm", "seed", "trial"]
    assert list(zip(final["seed"], final["trial"], strict=True)) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    # best over the trial's own steps (10 t + 4), not over the repetition
    assert final["best:Loss/Test"].tolist() == [4.0, 14.0, 24.0, 4.0, 14.0]


def test_a_run_twice_and_mixed_keys_are_refused(tmp_path):
    from onepass.records.aggregate import aggregate_chunks

    twice = [_trial_chunk("a.json", 0, 2), _trial_chunk("b.json", 0, 1)]
    with pytest.raises(AggregationError, match=r"b\.json: run \('BayesOpt', 0, 0\) appears in more than one chunk"):
        aggregate_chunks("exp", twice, tmp_path / "e.parquet", tmp_path / "e_final.csv")
    mixed = [_trial_chunk("a.json", 0, 2), _trial_chunk("b.json", 1, 1, "Random", with_trial=False)]
    with pytest.raises(AggregationError, match="some chunks have a 'trial' column"):
        aggregate_chunks("exp", mixed, tmp_path / "e.parquet", tmp_path / "e_final.csv")
    assert not (tmp_path / "e.parquet").exists()
