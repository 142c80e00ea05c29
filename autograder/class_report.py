"""``python -m autograder report EXERCISE [--out FILE]``: the instructor's page on a graded class.

One self-contained HTML file (figures embedded as PNG data, no script, nothing fetched), by
default ``<course>/reports/<exercise>.html``, read from what ``python -m autograder grade`` wrote
and from nbgrader's gradebook:

1. a summary line: students graded, mean and median total, how many ``ok`` / ``partial`` /
   ``error``;
2. the score distribution: histograms of the totals, the notebook scores and (an exercise with a
   model) the model scores, from ``<course>/grades/<exercise>.csv``;
3. the most-failed test cells: for each graded test cell, how many students lost points on it
   (``lost_cells`` of ``<course>/grades/<exercise>/<student>.json``; the gradebook's grades for
   a student whose details lack them);
4. the class's pooled confusion matrix (an exercise with a classifier): the sum of the students'
   per-track confusion matrices, rows the true genre, columns the predicted one (an
   autoencoder's page says why it has none);
5. who handed in late or not at all: the gradebook's submission timestamps against the
   assignment's due date (an extension included, as nbgrader counts it), and the students of the
   gradebook's roster without a submission;
6. the submissions that could not be graded, with the grader's message.
"""
import base64
import datetime
import html
import io
import json
import math
from pathlib import Path

from autograder import exercises, grading
from autograder.exercises import GradingSetupError

STATUSES = ("ok", "partial", "error")


# -- reading what grading wrote ---------------------------------------------------------------

def load_grades(course, exercise):
    """The grades CSV as a DataFrame; :class:`GradingSetupError` when nothing was graded yet."""
    import pandas as pd

    path = course.dir / "grades" / f"{exercise.name}.csv"
    if not path.is_file():
        raise GradingSetupError(
            f"nothing graded yet for {exercise.name}: no {path} (run `python -m autograder grade "
            f"{exercise.name} --submissions {course.submitted}` first)")
    table = pd.read_csv(path, dtype={"student": str}).reindex(columns=grading.COLUMNS)
    if table.empty:
        raise GradingSetupError(f"nothing graded yet for {exercise.name}: {path} has no rows")
    return table


def load_details(course, exercise, students):
    """``{student: details}`` from ``<course>/grades/<exercise>/<student>.json`` (``{}`` where a
    student has none)."""
    folder = course.dir / "grades" / exercise.name
    details = {}
    for student in students:
        path = folder / f"{student}.json"
        try:
            details[student] = json.loads(path.read_text())
        except (OSError, ValueError):
            details[student] = {}
    return details


def load_gradebook(course, exercise):
    """What the gradebook says about the class: ``{"roster": [...], "max_score": float|None,
    "duedate": datetime|None, "submissions": {student: {"timestamp", "duedate", "seconds_late"}},
    "known": bool}`` (``known``: the gradebook has the assignment). Never creates a gradebook."""
    info = {"roster": [], "max_score": None, "duedate": None, "submissions": {},
            "known": False, "exists": False}
    if not Path(course.db_url.removeprefix("sqlite:///")).is_file():
        return info
    from nbgrader.api import Gradebook, MissingEntry

    info["exists"] = True
    with Gradebook(course.db_url, course.id) as gb:
        info["roster"] = sorted(s.id for s in gb.students)
        try:
            assignment = gb.find_assignment(exercise.name)
        except MissingEntry:
            return info
        info.update(known=True, max_score=assignment.max_score, duedate=assignment.duedate)
        for sub in gb.assignment_submissions(exercise.name):
            info["submissions"][sub.student.id] = {
                "timestamp": sub.timestamp, "duedate": sub.duedate,
                "seconds_late": sub.total_seconds_late}
    return info


# -- what the page shows ----------------------------------------------------------------------

def _number(value):
    """A float, or ``None`` for a missing value."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def summary(table):
    """``{"students", "mean", "median", "ok", "partial", "error"}``; a missing total counts 0
    (a submission that could not be graded scores zero)."""
    totals = table.total.map(_number).fillna(0.0)
    counts = table.status.fillna("error").value_counts()
    return {"students": len(table), "mean": float(totals.mean()),
            "median": float(totals.median()),
            **{status: int(counts.get(status, 0)) for status in STATUSES}}


def failed_cells(course, exercise, details, gradebook):
    """``([(cell, students who lost points, points lost, max points)], students known)``, the
    most-failed first (most students, then most points lost, then by name); ``students known``:
    how many students' test cells the details or the gradebook tell."""
    cells, known = {}, 0
    for student, info in details.items():
        lost = info.get("lost_cells")
        if lost is None:  # details without them (or none at all): ask the gradebook
            if not (gradebook["known"] and student in gradebook["roster"]):
                continue
            lost = grading.lost_points(course, exercise, student)
        known += 1
        for name, score, top in lost:
            entry = cells.setdefault(name, [0, 0.0, _number(top) or 0.0])
            entry[0] += 1
            entry[1] += (_number(top) or 0.0) - (_number(score) or 0.0)
    rows = [(name, n, lost, top) for name, (n, lost, top) in cells.items()]
    return sorted(rows, key=lambda r: (-r[1], -r[2], r[0])), known


def pooled_confusion(details):
    """``(matrix, students pooled)``: the sum of the students' confusion matrices (rows the true
    genre, columns the predicted one), or ``(None, 0)`` when no student has one."""
    import numpy as np

    from genrelab import GENRES

    total, pooled = np.zeros((len(GENRES), len(GENRES)), dtype=int), 0
    for info in details.values():
        matrix = info.get("confusion")
        if matrix is None:
            continue
        matrix = np.asarray(matrix, dtype=int)
        if matrix.shape != total.shape:
            continue
        total += matrix
        pooled += 1
    return (total, pooled) if pooled else (None, 0)


def lateness(seconds):
    """``"2 d 3 h"``, ``"3 h 12 min"``, ``"12 min"``, ``"40 s"``."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def when(moment):
    """A gradebook datetime (naive UTC, as nbgrader stores it) as ``2026-03-01 17:00 UTC``."""
    if moment is None:
        return "-"
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def late_and_missing(gradebook, table):
    """``(late, missing)``: ``[(student, handed in, due, seconds late)]`` latest first, and the
    roster's students with no submission (neither in the gradebook nor in the grades)."""
    late = sorted(((student, sub["timestamp"], sub["duedate"], sub["seconds_late"])
                   for student, sub in gradebook["submissions"].items()
                   if sub["seconds_late"] and sub["seconds_late"] > 0),
                  key=lambda r: (-r[3], r[0]))
    handed_in = set(gradebook["submissions"]) | set(table.student.astype(str))
    missing = [s for s in gradebook["roster"] if s not in handed_in]
    return late, missing


# -- figures and HTML -------------------------------------------------------------------------

def _png(figure):
    """A matplotlib figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def histograms(table, exercise, max_score):
    """One row of histograms: totals, notebook scores and (with a model) model scores."""
    import numpy as np
    from matplotlib.figure import Figure

    columns = [("total", "total", max_score), ("notebook_score", "notebook tests", None)]
    if exercise.has_model:
        columns.append(("model_score", "model", exercise.points))
    figure = Figure(figsize=(3.6 * len(columns), 2.8))
    for axis, (column, title, top) in zip(figure.subplots(1, len(columns), squeeze=False)[0],
                                          columns):
        values = table[column].map(_number)
        if column == "total":
            values = values.fillna(0.0)
        values = values.dropna().to_numpy(dtype=float)
        top = math.ceil(max([top or 0.0, *values, 1.0]))
        width = max(1, math.ceil(top / 25))  # one bar per point, up to 25 bars
        bins = np.arange(-width / 2, top + width, width)  # bars centred on whole points
        axis.hist(values, bins=bins, color="#4878a8", edgecolor="white")
        axis.set(title=title, xlabel="points", xlim=(bins[0], bins[-1]))
        axis.yaxis.get_major_locator().set_params(integer=True)
    axis = figure.axes[0]
    axis.set_ylabel("students")
    figure.tight_layout()
    return _png(figure)


def confusion_figure(matrix):
    """The pooled confusion matrix as a heat map, each cell labelled with its count."""
    import numpy as np
    from matplotlib.figure import Figure

    from genrelab import GENRES

    figure = Figure(figsize=(5.8, 4.9))
    axis = figure.subplots()
    image = axis.imshow(matrix, cmap="Blues")
    axis.set(xticks=range(len(GENRES)), yticks=range(len(GENRES)), xlabel="predicted genre",
             ylabel="true genre")
    axis.set_xticklabels(GENRES, rotation=45, ha="right")
    axis.set_yticklabels(GENRES)
    high = matrix.max() or 1
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            axis.text(j, i, str(count), ha="center", va="center", fontsize=8,
                      color="white" if count > high / 2 else "black")
    figure.colorbar(image, ax=axis, shrink=0.8, label="tracks")
    figure.tight_layout()
    return _png(figure)


def _e(value):
    return html.escape(str(value))


def _table(header, rows, numeric=()):
    """A small HTML table; columns whose index is in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
                         for i, v in enumerate(row)) + "</tr>\n" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"


def _fmt(value, digits=1):
    value = _number(value)
    return "-" if value is None else f"{value:.{digits}f}".rstrip("0").rstrip(".") or "0"


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 980px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.summary { font-size: 1.1em; background: #f3f6fa; padding: 0.6em 0.9em; border-radius: 4px; }
p.meta, p.note { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.confusion td, table.confusion th { text-align: right; padding: 0.2em 0.45em; }
table.confusion td.diag { background: #e3eefa; font-weight: bold; }
img { max-width: 100%; height: auto; }
.ok { color: #1a7f37; } .partial { color: #9a6700; } .error { color: #cf222e; }
"""


def render(exercise, table, details, gradebook, cells, confusion, pooled, late, missing,
           generated=None):
    """The page, as a string."""
    from genrelab import GENRES

    s = summary(table)
    max_score = gradebook["max_score"]
    out_of = f" of {_fmt(max_score)}" if max_score else ""
    generated = generated or datetime.datetime.now(datetime.timezone.utc)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>Class report: {_e(exercise.name)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>Class report: <code>{_e(exercise.name)}</code></h1>",
        f'<p class="meta">From <code>grades/{_e(exercise.name)}.csv</code>, the grading '
        f"details and nbgrader's gradebook; generated {_e(when(generated))}.</p>",
        f'<p class="summary" id="summary"><strong>{s["students"]} student'
        f'{"" if s["students"] == 1 else "s"}</strong> graded; '
        f"total mean <strong>{s['mean']:.1f}</strong>, median <strong>{s['median']:.1f}"
        f"</strong>{_e(out_of)} points; "
        f'<span class="ok">{s["ok"]} ok</span>, <span class="partial">{s["partial"]} partial'
        f'</span>, <span class="error">{s["error"]} error</span>.</p>',
    ]

    # scores
    parts.append('<h2 id="scores">Score distribution</h2>')
    parts.append(f'<img alt="Histograms of the scores" src="{histograms(table, exercise, max_score)}">')
    columns = [("total", "total"), ("notebook_score", "notebook tests")]
    if exercise.has_model:
        columns += [("model_score", "model"),
                    ("model_lsd", "model LSD (dB)") if exercise.lower_is_better
                    else ("model_accuracy", "model accuracy")]
    rows = []
    for column, name in columns:
        values = table[column].map(_number)
        if column == "total":
            values = values.fillna(0.0)
        values = values.dropna()
        digits = {"model_accuracy": 3, "model_lsd": 2}.get(column, 1)
        rows.append([name, len(values)] + ([_fmt(values.min(), digits),
                                            _fmt(values.median(), digits),
                                            _fmt(values.mean(), digits),
                                            _fmt(values.max(), digits)]
                                           if len(values) else ["-"] * 4))
    parts.append(_table(["score", "students", "min", "median", "mean", "max"], rows,
                        numeric=(1, 2, 3, 4, 5)))
    if max_score is None:
        parts.append('<p class="note">The gradebook does not know this exercise, so the maximum '
                     "score is not shown.</p>")

    # test cells
    parts.append('<h2 id="cells">Most-failed test cells</h2>')
    cells, known = cells
    if cells:
        parts.append(f"<p>Of {known} students graded, how many lost points on each test "
                     "cell (the model's task cell excluded: its score is the model's).</p>")
        parts.append(_table(
            ["test cell", "students who lost points", "share", "points lost in all",
             "max points"],
            [[name, n, f"{n / known:.0%}", _fmt(lost), _fmt(top)]
             for name, n, lost, top in cells], numeric=(1, 2, 3, 4)))
    elif known:
        parts.append(f"<p>None of the {known} students graded lost points on a test cell.</p>")
    else:
        parts.append("<p>Neither the grading details nor the gradebook say which test cells "
                     "lost points.</p>")
    if cells and known < len(details):
        parts.append(f'<p class="note">{len(details) - known} students graded are not counted: '
                     "neither their grading details nor the gradebook say which test cells "
                     "lost points.</p>")

    # confusion
    parts.append('<h2 id="confusion">Pooled confusion matrix</h2>')
    if not exercise.has_model:
        parts.append("<p>This exercise has no model: nothing to pool.</p>")
    elif exercise.lower_is_better:
        parts.append("<p>This exercise's model rebuilds spectrograms, scored by its "
                     "log-spectral distance on the test tracks (the <em>model LSD</em> row "
                     "above): there are no genre predictions to pool.</p>")
    elif confusion is None:
        parts.append("<p>No graded model has a confusion matrix (every model failed to "
                     "load or evaluate).</p>")
    else:
        n = int(confusion.sum())
        correct = int(confusion.trace())
        parts.append(f"<p>The sum of {pooled} students' confusion matrices on the held-out test "
                     f"split, per track: {n} predictions, {correct} correct "
                     f"({correct / n:.1%}). Rows: the true genre; columns: the predicted one.</p>"
                     if n else "<p>The confusion matrices are empty.</p>")
        parts.append(f'<img alt="Pooled confusion matrix" src="{confusion_figure(confusion)}">')
        head = "".join(f"<th>{_e(g)}</th>" for g in GENRES)
        body = []
        for i, genre in enumerate(GENRES):
            row_sum = int(confusion[i].sum())
            recall = f"{confusion[i, i] / row_sum:.0%}" if row_sum else "-"
            tds = "".join(f'<td class="diag">{c}</td>' if i == j else f"<td>{c}</td>"
                          for j, c in enumerate(confusion[i]))
            body.append(f"<tr><th>{_e(genre)}</th>{tds}<td>{recall}</td></tr>")
        parts.append(f'<table class="confusion">\n<thead><tr><th>true \\ predicted</th>{head}'
                     f"<th>recall</th></tr></thead>\n<tbody>\n" + "\n".join(body)
                     + "\n</tbody>\n</table>")
        off = [(int(confusion[i, j]), GENRES[i], GENRES[j]) for i in range(len(GENRES))
               for j in range(len(GENRES)) if i != j and confusion[i, j]]
        off.sort(key=lambda r: (-r[0], r[1], r[2]))
        if off:
            parts.append("<p>Most frequent confusions: " + "; ".join(
                f"{_e(t)} taken for {_e(p)} ({c})" for c, t, p in off[:5]) + ".</p>")

    # late / missing
    parts.append('<h2 id="late">Late and missing submissions</h2>')
    if not gradebook["exists"]:
        parts.append("<p>No gradebook yet: neither the roster nor the submission times are "
                     "known.</p>")
    else:
        due = gradebook["duedate"]
        parts.append(f"<p>Due date: <strong>{_e(when(due))}</strong>.</p>" if due else
                     "<p>The gradebook has no due date for this exercise (set one with "
                     f"<code>nbgrader db assignment add {_e(exercise.name)} --duedate "
                     "...</code>), so no submission counts as late.</p>")
        if late:
            parts.append(f"<p>{len(late)} submitted late:</p>")
            parts.append(_table(["student", "handed in", "due", "late by"],
                                [[st, when(ts), when(dd), lateness(sec)]
                                 for st, ts, dd, sec in late], numeric=(3,)))
        elif due:
            parts.append("<p>No submission was late.</p>")
        if missing:
            parts.append(f"<p>{len(missing)} of the roster's {len(gradebook['roster'])} "
                         "students handed in nothing:</p>")
            parts.append(_table(["student"], [[m] for m in missing]))
        else:
            parts.append(f"<p>Every one of the roster's {len(gradebook['roster'])} students "
                         "handed something in.</p>")

    # errors
    errors = table[table.status.fillna("error") == "error"]
    parts.append('<h2 id="errors">Submissions that could not be graded</h2>')
    if len(errors):
        parts.append(_table(["student", "message"],
                            [[r.student, r.message if isinstance(r.message, str) else ""]
                             for r in errors.itertuples()]))
    else:
        parts.append("<p>None: every submission was graded.</p>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def report(exercise, out=None):
    """Write the class report of ``exercise``; returns its path."""
    exercise, course = exercises.get(exercise), grading.course()
    table = load_grades(course, exercise)
    details = load_details(course, exercise, table.student.astype(str))
    gradebook = load_gradebook(course, exercise)
    cells = failed_cells(course, exercise, details, gradebook)
    confusion, pooled = pooled_confusion(details)
    late, missing = late_and_missing(gradebook, table)
    page = render(exercise, table, details, gradebook, cells, confusion, pooled, late, missing)
    out = Path(out) if out else course.dir / "reports" / f"{exercise.name}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def add_arguments(parser):
    parser.add_argument("exercise", help=f"one of {', '.join(exercises.EXERCISES)}")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="where to write the page (default: <course>/reports/EXERCISE.html)")


def main(args):
    path = report(args.exercise, args.out)
    print(f"class report: {path}")
