"""``python -m autograder benchmark``: how long grading a class takes, end to end, on this machine.

    python -m autograder benchmark [--exercise mlp] [--students 100] [--scaling 8] [--record]

builds a class of ``--students`` submissions of the exercise (each the reference solution with
the model its run saved, as an honest student hands it in), in a throw-away course folder, and
grades it exactly as ``python -m autograder grade`` does: the sandboxed nbgrader run of every
notebook (which trains the model again), both models evaluated on the held-out test split, the
gradebook, the feedback. It prints

- the time to grade the whole class with ``--workers`` (default: the cores), and the cost per
  student;
- the speed-up from 1 to 2 workers (or to ``--workers``), measured in the same run on the first
  ``--scaling`` students: the same students graded with 1 worker, then again with N.

``--record`` writes the figures, with the machine and the commit, to
``autograder/results/grading_benchmark.json``.
"""
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def add_arguments(parser):
    parser.add_argument("--exercise", default="mlp")
    parser.add_argument("--dataset", help="prepared data set (default: the course's)")
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--scaling", type=int, default=8,
                        help="students graded with 1 worker and with --workers (default 8)")
    parser.add_argument("--workers", type=int, default=None,
                        help="workers of the class run (default: the cores)")
    parser.add_argument("--record", action="store_true",
                        help="write autograder/results/grading_benchmark.json")


def build_class(exercise, dataset, folder, students):
    """``students`` honest submissions: the solution notebook and the model its run saved."""
    from autograder import demo, grading

    course = grading.course()
    run = Path(folder) / "reference-run"
    run.mkdir(parents=True)
    demo.execute_notebook(course.source / exercise.name / exercise.notebook, run, dataset,
                          exercise.time_limits(course.cell_timeout)[0])
    names = [f"student-{i:03d}" for i in range(1, students + 1)]
    for name in names:
        dest = Path(folder) / "submitted" / name / exercise.name
        dest.mkdir(parents=True)
        shutil.copy(course.source / exercise.name / exercise.notebook, dest)
        shutil.copy(run / exercise.model_file, dest)
    return Path(folder) / "submitted", names


def main(args):
    from autograder import exercises, grading
    from autograder.reference import code_version, hardware_of_machine
    from genrelab.dataset import dataset_info

    exercise = exercises.get(args.exercise)
    dataset = dataset_info(args.dataset)["name"]
    workers = args.workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as tmp:
        os.environ["GENRELAB_COURSE_DIR"] = str(Path(tmp) / "course")
        print(f"building {args.students} submissions of {exercise.name} ...", flush=True)
        submissions, names = build_class(exercise, dataset, Path(tmp) / "class", args.students)
        scaling = {}
        subset = names[:min(args.scaling, len(names))]
        for n in (1, workers) if subset and workers > 1 else ():
            start = time.perf_counter()
            table = grading.grade(exercise.name, submissions, dataset, only=subset, workers=n,
                                  regrade=True)
            scaling[n] = time.perf_counter() - start
            assert (table.status == "ok").all(), table.message.tolist()
        start = time.perf_counter()
        table = grading.grade(exercise.name, submissions, dataset, workers=workers, regrade=True)
        total = time.perf_counter() - start
    ok = int((table.status == "ok").sum())
    figures = {
        "exercise": exercise.name, "dataset": dataset, "students": len(names),
        "workers": workers, "seconds": round(total, 1),
        "seconds_per_student": round(total / len(names), 2), "graded_ok": ok,
        "scaling": {"students": len(subset), **{f"{n}_workers_s": round(s, 1)
                                                for n, s in scaling.items()},
                    **({"speedup": round(scaling[1] / scaling[workers], 2)}
                       if len(scaling) == 2 else {})},
        "hardware": hardware_of_machine(), "code": code_version(),
        "measured": time.strftime("%Y-%m-%d", time.gmtime())}
    print(f"{len(names)} {exercise.name} submissions graded end to end (sandboxed notebook runs "
          f"included) in {total / 60:.1f} min with {workers} workers: {total / len(names):.1f} s "
          f"per student; {ok} graded ok")
    if len(scaling) == 2:
        print(f"speed-up from 1 to {workers} workers on {len(subset)} students: "
              f"{scaling[1]:.0f} s -> {scaling[workers]:.0f} s, "
              f"{scaling[1] / scaling[workers]:.2f}x")
    if args.record:
        from autograder.reference import results_dir

        path = results_dir() / "grading_benchmark.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(figures, indent=1) + "\n")
        os.replace(tmp, path)
        print(f"recorded in {path}")
    return 0
