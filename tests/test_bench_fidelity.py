"""bench/fidelity.py's verdict rules, on made-up cells: paired seeds, wins, harm, the controls."""

from __future__ import annotations

import bench.fidelity as F
import pytest
from bench.fidelity import SETS_ROWS, UNTUNED_ROWS, paired, paired_examples, paired_lines, verdict


def _untuned(best: float) -> dict:
    cell = dict.fromkeys(UNTUNED_ROWS, 0.5)
    cell["kate"] = best
    return cell


def _cells() -> dict:
    cells = {}
    for s, (ours, best) in enumerate([(0.80, 0.66), (0.78, 0.65), (0.79, 0.67)]):
        cells[f"untuned/sst2/{s}"] = _untuned(best)
        cells[f"iid/sst2/asyndbt/{s}"] = {"accuracy": ours}
        cells[f"random-sets@4x5/sst2/{s}"] = {SETS_ROWS[1]: ours - 0.01}
    cells["iid/sst2/random-search/0"] = {"accuracy": 0.83}
    cells["untuned/subj/0"] = _untuned(0.64)
    cells["untuned/subj/1"] = _untuned(0.70)  # seed 1 has no AsynDBT cell: must not enter the comparison
    cells["iid/subj/asyndbt/0"] = {"accuracy": 0.62}
    return cells


def test_verdict_is_computed_on_paired_seeds_only():
    p = paired(_cells(), seeds=3)["iid"]
    assert p["sst2"]["seeds"] == [0, 1, 2] and p["subj"]["seeds"] == [0]
    assert p["subj"]["best_untuned_band"]["mean"] == 0.64
    assert p["sst2"]["random_search_seeds"] == [0]
    assert p["sst2"]["asyndbt_on_random_search_seeds"]["mean"] == 0.80
    assert SETS_ROWS[1] in p["sst2"]


def test_win_harm_and_control_lines():
    cells = _cells()
    out = {"paired": paired(cells, seeds=3), "summary": {}}
    text = "\n".join(verdict(out))
    assert "IID sst2, seeds [0, 1, 2]: AsynDBT 79.0 ± 0.8 vs best untuned kate 66.0 ± 0.8: +13.0 points — WIN" in text
    assert "provisional" not in text.split("IID sst2")[1].split("\n")[0]
    assert "IID subj, seeds [0]" in text and "HARM" in text.split("IID subj")[1].split("\n")[0]
    assert "wins on 1 signal task(s) ['sst2']; more than 1 point below the best untuned row on 1 task(s) ['subj']" in text
    assert "vs random-search 83.0 ± 0.0: -3.0 points" in text
    assert f"vs {SETS_ROWS[1]}" in text and "+1.0 points" in text


def test_paired_examples_compare_answers_example_by_example():
    cells = {}
    for s in range(2):
        cells[f"untuned/sst2/{s}"] = {**_untuned(0.5), "correct": {"kate": "1100"}}
        # AsynDBT's three workers: shares right per example 1, 1, 2/3, 0 -> minus kate (1, 1, 0, 0)
        cells[f"iid/sst2/asyndbt/{s}"] = {"accuracy": 0.75, "correct_per_worker": ["1110", "1100", "1110"]}
        cells[f"random-sets@4x5/sst2/{s}"] = {SETS_ROWS[1]: 0.5, "correct_per_set_cal": ["1111", "0000"]}
    cells["untuned/sst2/1"]["kate"] = 0.9  # kate is the best untuned row over the two seeds
    cells["iid/sst2/random-search/0"] = {"accuracy": 0.75, "correct_per_worker": ["1110"] * 3}
    cells["iid/sst2/random-search/1"] = {"accuracy": 0.75}  # stored before answers were recorded: left out
    pairs = paired(cells, seeds=2)
    got = paired_examples(cells, 2, pairs)["iid"]["sst2"]
    best = got["best untuned (kate)"]
    assert best["seeds"] == [0, 1] and best["n"] == 8
    assert abs(best["diff"] - (2 / 3) / 4) < 1e-12  # (0 + 0 + 2/3 + 0) / 4 on both seeds
    assert abs(got[SETS_ROWS[1]]["diff"] - (0.5 + 0.5 + 1 / 6 - 0.5) / 4) < 1e-12
    assert got["random-search"]["seeds"] == [0] and abs(got["random-search"]["diff"] - (-1 / 3) / 4) < 1e-12
    text = "\n".join(paired_lines({"paired_examples": {"iid": {"sst2": got}}}))
    assert "| iid | sst2 | best untuned (kate) | [0, 1] | 8 | +16.7 ±" in text


def test_keys_select_exactly_those_cells_in_order():
    picked = F.select_cells(3, "", "dirichlet/subj/asyndbt/1, untuned/sst2/0")
    assert [key for _, key, _ in picked] == ["dirichlet/subj/asyndbt/1", "untuned/sst2/0"]
    assert picked[0][2]["partition"] == "dirichlet" and picked[1][0] == "untuned"


def test_an_unknown_key_is_an_error_that_names_the_close_ones():
    with pytest.raises(SystemExit, match="dirichlet/sst2/asyndbt/0"):
        F.select_cells(3, "", "dirichlet/sst/asyndbt/0")


def test_an_experiment_copies_a_tuned_cell_under_its_own_key_with_the_overrides():
    (cell,) = F.select_cells(3, "", "iid/sst2/asyndbt/0")
    group, key, kw = F.experiment_cell("orders-3", ["selection.demo_orders=3"], *cell)
    assert key == "experiment/orders-3/sst2/asyndbt/0" and kw["extra"] == ["selection.demo_orders=3"]
    assert kw["seed"] == 0 and kw["partition"] == "iid" and group == "iid"
    with pytest.raises(SystemExit, match="tuned"):
        F.experiment_cell("x", ["a=1"], *F.select_cells(3, "", "untuned/sst2/0")[0])


def test_compute_cost_prices_missing_cells_like_finished_ones_of_their_kind():
    cells = {"untuned/sst2/0": {"wall_s": 360.0}, "iid/sst2/asyndbt/0": {"wall_s": 1800.0},
             "iid/trec/asyndbt/0": {"wall_s": 3600.0}, "experiment/x/sst2/asyndbt/0": {"wall_s": 1e9}}
    done, missing = F.missing_cell_prices(cells, seeds=1)
    assert set(done) == {"untuned/sst2/0", "iid/sst2/asyndbt/0", "iid/trec/asyndbt/0"}  # experiments: not the table
    assert len(missing) == len(F.cells(1, set())) - 3
    assert missing["untuned/trec/0"] == 360.0  # same group, other task
    assert missing["iid/sst2/random-search/0"] == 1800.0  # same group and task
    assert missing["iid/subj/asyndbt/0"] == 2700.0  # same group: the mean of its finished cells
    assert missing["ablation/sst2/one-shot/0"] == 2700.0  # no cell of its group yet: the mean tuned cell
    cost = F.compute_cost(cells, seeds=1)
    assert cost["core_hours_done"] == pytest.approx(5760 / 3600)
    assert cost["hours_on_2_cores_estimate"] == pytest.approx((5760 + sum(missing.values())) / 7200)
    assert "≤ 8" in "".join(F.cost_lines(cost))


def test_a_cell_costs_its_cpu_time_when_it_recorded_it():
    # a cell that shared the cores with another process has a long wall time but its own CPU time is the cost
    cells = {"iid/sst2/asyndbt/0": {"wall_s": 3000.0, "cpu_s": 1500.0}, "iid/sst2/asyndbt/1": {"wall_s": 1000.0}}
    done, _ = F.missing_cell_prices(cells, seeds=2)
    assert done == {"iid/sst2/asyndbt/0": 1500.0, "iid/sst2/asyndbt/1": 1000.0}


def test_a_replayed_cell_keeps_the_cost_of_its_original_run(tmp_path):
    # a replay answers from the score cache in seconds; pricing the cell by it would hide what it cost
    from bench._common import CellStore

    key = "iid/sst2/asyndbt/0"
    store = CellStore(tmp_path / "f.json", {})
    store.put(key, {"accuracy": 0.70, "wall_s": 3000.0, "cpu_s": 1500.0})

    class ReplayBench:  # FAKE bench: the recomputed cell, as a replay from the cache would return it
        def tuned(self, **kw):
            return {"accuracy": 0.75, "wall_s": 20.0, "winners": ["argmax"]}

    F.replay_tuned(store, ReplayBench(), F.select_cells(1, "", key), None, "test")
    cell = store.get(key)
    assert cell["accuracy"] == 0.75 and cell["replay_wall_s"] == 20.0
    assert (cell["wall_s"], cell["cpu_s"]) == (3000.0, 1500.0)
    assert store.data["archive"]["test"][key]["accuracy"] == 0.70
    assert "0 LLM requests not in the score cache" in cell["note"]  # a fake bench has no client


def test_a_replay_under_a_new_budget_replaces_the_cell_even_when_its_accuracy_is_unchanged(tmp_path):
    # the same accuracy from fewer worker steps is a new cell: the table must say which budget it ran
    from bench._common import CellStore

    key = "iid/sst2/asyndbt/0"
    store = CellStore(tmp_path / "f.json", {})
    store.put(key, {"accuracy": 0.70, "wall_s": 3000.0, "worker_steps": 3 * F.BUDGET})

    class ReplayBench:  # FAKE bench: the recomputed cell at the current default budget
        def tuned(self, **kw):
            return {"accuracy": 0.70, "wall_s": 20.0, "winners": ["start"], "worker_steps": F.BUDGET}

    F.replay_tuned(store, ReplayBench(), F.select_cells(1, "", key), None, "budget")
    cell = store.get(key)
    assert cell["worker_steps"] == F.BUDGET and cell["wall_s"] == 3000.0
    assert f"upper bound for {F.BUDGET}" in cell["note"]
    assert store.data["archive"]["budget"][key]["worker_steps"] == 3 * F.BUDGET
    assert not any("Older budget" in line for line in F.stale_lines(store.data["cells"]))


def test_ablations_are_paired_by_seed_and_the_minimum_is_checked():
    cells = _cells()
    for s, acc in enumerate([0.70, 0.72]):
        cells[f"ablation/sst2/no-calibration/{s}"] = {"accuracy": acc}
    cells["ablation/sst2/old-optimiser/2"] = {"accuracy": 0.81}
    cells["ablation/trec/no-calibration/0"] = {"accuracy": 0.5}  # no AsynDBT cell of that seed: left out
    ab = F.ablation_paired(cells, seeds=3)
    assert ab["sst2"]["no-calibration"]["seeds"] == [0, 1]
    assert ab["sst2"]["no-calibration"]["diff"] == pytest.approx((0.10 + 0.06) / 2)
    assert ab["sst2"]["old-optimiser"]["diffs"] == pytest.approx([0.79 - 0.81])
    assert "trec" not in ab
    text = "\n".join(F.ablation_lines(ab))
    assert "AsynDBT minus no-calibration: +8.0 points (per seed +10.0, +6.0)" in text  # no answers stored: no interval
    cells["iid/sst2/asyndbt/0"]["correct_per_worker"] = ["1100", "1100"]
    cells["ablation/sst2/no-calibration/0"]["correct_per_worker"] = ["1000", "1000"]
    e = F.ablation_paired(cells, seeds=3)["sst2"]["no-calibration"]
    assert "se" not in e  # seed 1 has no answers: no interval over a part of the seeds
    cells["iid/sst2/asyndbt/1"]["correct_per_worker"] = ["0000"]
    cells["ablation/sst2/no-calibration/1"]["correct_per_worker"] = ["0000"]
    e = F.ablation_paired(cells, seeds=3)["sst2"]["no-calibration"]
    assert e["n"] == 8 and e["se"] > 0
    assert "on >= 2 seeds: 0 signal task(s) []" in text  # three required variants are missing
    for v in F.REQUIRED_ABLATIONS:
        for s in (0, 1):
            cells[f"ablation/sst2/{v}/{s}"] = {"accuracy": 0.7}
    assert "on >= 2 seeds: 1 signal task(s) ['sst2']" in "\n".join(F.ablation_lines(F.ablation_paired(cells, 3)))


def test_a_curve_that_ends_below_its_start_is_named():
    lines = F.curve_lines({"trec": [{"test_accuracy": 0.58}, {"test_accuracy": 0.569}],
                           "sst2": [{"test_accuracy": 0.76}, {"test_accuracy": 0.776}]})
    assert "trec: selected prompts' test accuracy 58.0 → 56.9 % over 2 selection rounds: ENDS BELOW" in lines[0]
    assert lines[1].endswith("ends at or above its start.")


def test_tuned_cells_of_older_selection_rules_are_named_per_task_partition_and_method():
    cells = {"iid/agnews/asyndbt/0": {"rules": F.RULES}, "iid/agnews/asyndbt/2": {}, "iid/agnews/asyndbt/1": {},
             "dirichlet/trec/asyndbt/0": {"rules": "session-17"}, "iid/agnews/random-search/1": {},
             "iid/agnews/random-search/0": {"rules": F.RULES}, "untuned/agnews/1": {}}
    lines = F.stale_lines(cells)  # one line per older rules version, naming every cell computed under it
    assert len(lines) == 2
    assert "rules older than session 18" in lines[0]
    assert "IID agnews seeds [1, 2]; IID agnews random-search seeds [1]." in lines[0]
    assert "the session-17 rules" in lines[1] and "non-IID trec seeds [0]" in lines[1]
    assert F.stale_lines({"iid/sst2/asyndbt/0": {"rules": F.RULES}}) == []
    older = F.stale_lines({"iid/sst2/asyndbt/0": {"rules": F.START_NAMED[1]}, "iid/sst2/asyndbt/1": {"rules": F.RULES}})
    version = F.START_NAMED[1].split(":")[0]
    assert len(older) == 1 and older[0].startswith(f"- Older rules: computed under the {version} rules, not the current")
    assert older[0].endswith("IID sst2 seeds [0].")


def test_tuned_cells_of_an_older_budget_are_named_after_the_rules():
    old = 3 * F.BUDGET
    cells = {"iid/sst2/asyndbt/0": {"rules": F.RULES, "worker_steps": old},
             "iid/sst2/asyndbt/1": {"rules": F.RULES, "worker_steps": F.BUDGET},
             "iid/sst2/cendbt/2": {"rules": F.RULES, "worker_steps": old},
             "iid/trec/asyndbt/0": {"worker_steps": old}}
    lines = F.stale_lines(cells)
    assert lines[0].startswith("- Older rules: computed under rules older than session 18") and "IID trec seeds [0]" in lines[0]
    assert f"- Older budget: IID sst2 seeds [0] ran {old} worker steps (the default is now {F.BUDGET})" in lines[1]
    assert "IID sst2 cendbt seeds [2]" in lines[2] and "IID trec seeds [0]" in lines[3]
    assert len(lines) == 4


def test_a_dry_replay_reports_changes_and_stores_nothing(tmp_path):
    # the quick way to measure a selection-rule change: replay the cache-answered cells, keep the table as it was
    from bench._common import CellStore

    keys = ["iid/sst2/asyndbt/0", "iid/sst2/asyndbt/1", "iid/sst2/asyndbt/2"]
    store = CellStore(tmp_path / "f.json", {})
    store.put(keys[0], {"accuracy": 0.70, "wall_s": 3000.0, "rules": F.RULES})
    store.put(keys[1], {"accuracy": 0.75, "wall_s": 3000.0, "rules": F.RULES})
    store.put(keys[2], {"accuracy": 0.75, "wall_s": 3000.0, "rules": "an older rule"})
    before = (tmp_path / "f.json").read_text()
    replayed = []

    class ReplayBench:  # FAKE bench: seed 0's cell changes under the new code, seed 1's does not
        def tuned(self, **kw):
            replayed.append(kw["seed"])
            return {"accuracy": 0.75, "wall_s": 1.0, "winners": ["start"]}

    changed = F.replay_tuned(store, ReplayBench(), F.select_cells(3, "", ",".join(keys)), None, "x", dry_run=True)
    assert changed == [keys[0]]
    assert replayed == [0, 1]  # a cell under older rules is not replayed: the cache may not answer it
    assert (tmp_path / "f.json").read_text() == before and "archive" not in store.data


def _bits(rng, n: int, p: float) -> str:
    return "".join("1" if x else "0" for x in rng.random(n) < p)


def test_the_post_hoc_best_of_level_rows_is_biased_and_cross_fitting_shows_it():
    import numpy as np

    rng = np.random.default_rng(1)
    cells = {}
    for s in range(3):  # eight rows of the same true accuracy: the best of them on test is best by noise alone
        answers = {r: _bits(rng, 300, 0.5) for r in UNTUNED_ROWS}
        cells[f"untuned/qnli/{s}"] = {**{r: b.count("1") / 300 for r, b in answers.items()}, "correct": answers}
        cells[f"iid/qnli/asyndbt/{s}"] = {"accuracy": 0.5, "correct_per_worker": [_bits(rng, 300, 0.5)] * 3}
    got = F.reference_bias(cells, paired(cells, seeds=3), splits=50)["qnli"]
    assert got["n"] == 900 and got["seeds"] == [0, 1, 2]
    assert got["post_hoc"] > 0.5 + 0.005 and abs(got["cross_fitted"] - 0.5) < 0.02 and got["bias"] > 0.005
    assert "| qnli | 900 |" in "\n".join(F.reference_bias_lines({"qnli": got}))


def test_a_row_better_on_every_example_has_no_selection_bias():
    cells = {}
    for s in range(2):
        answers = dict.fromkeys(UNTUNED_ROWS, "0101" * 25)
        answers["kate+cal"] = "1" * 100
        cells[f"untuned/trec/{s}"] = {**{r: b.count("1") / 100 for r, b in answers.items()}, "correct": answers}
        cells[f"iid/trec/asyndbt/{s}"] = {"accuracy": 0.7}  # no per-example answers: no AsynDBT column
    got = F.reference_bias(cells, paired(cells, seeds=2), splits=10)["trec"]
    assert got["post_hoc"] == got["cross_fitted"] == 1.0 and got["bias"] == 0.0
    assert got["most_picked"] == "kate+cal" and "asyndbt" not in got


def test_no_bias_line_for_a_task_whose_untuned_cells_lack_answers():
    cells = _cells()
    assert F.reference_bias(cells, paired(cells, seeds=3)) == {}
