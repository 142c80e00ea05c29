"""Feedback without the hidden tests: the preprocessor that ``nbgrader_config.py`` puts first in
``GenerateFeedback.preprocessors``.

``nbgrader autograde`` runs a submission with the full test cells of the source notebook, hidden
tests included, and ``nbgrader generate_feedback`` renders that run. Without this preprocessor
every student's ``feedback/<student>/<exercise>/<notebook>.html`` shows the ``### BEGIN HIDDEN
TESTS`` blocks and, where one fails, its assertion message and a traceback quoting its code.
:class:`ClearHiddenTestsFromFeedback`, for every cell:

* removes the hidden-test regions from the source, as ``generate_assignment`` does for the
  student version (the delimiters are nbgrader's ``ClearHiddenTests`` ones, as configured);
* replaces an error whose failing line lies in a hidden region (of this cell, or of another
  cell a frame points to) by :data:`NOTICE` with the exception's name only;
* keeps an error raised by a visible line, with its traceback, minus the context lines that
  IPython quotes from a hidden region;
* drops the result of a hidden last expression, and any output line that would still quote a
  hidden line or a message string of a hidden test (a last safety net: such an error becomes
  the notice).
"""
import ast
import re
import textwrap

from nbformat.v4 import new_output
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

NOTICE = "A hidden test failed (the grader's tests are not shown)."
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
FRAME = re.compile(r"^\s*Cell In\[(\d+)\], line (\d+)")  # IPython's header of a cell's frame
CONTEXT = re.compile(r"^\s*(?:-+>|\(\.\.\.\))?\s*(\d+)(?:\s|$)")  # "   12 code", "---> 12 code"
SHORTEST = 12  # characters: shorter hidden lines and strings ("else:", "pass") are not telling


def hidden_lines(source, begin, end):
    """The 1-based numbers of the lines of ``source`` in hidden-test regions, the delimiter
    lines included (as ClearHiddenTests reads them; an unclosed region runs to the end)."""
    hidden, inside = set(), False
    for number, line in enumerate(source.split("\n"), 1):
        if begin in line:
            inside = True
        if inside:
            hidden.add(number)
        if end in line:
            inside = False
    return hidden


def _normal(text):
    return " ".join(text.split())


def _strings(code):
    """The string constants of some code (the parts of f-strings between their fields)."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return []
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


class ClearHiddenTestsFromFeedback(NbGraderPreprocessor):
    """Clears the hidden tests, their messages and tracebacks from a notebook's feedback."""

    def preprocess(self, nb, resources):
        markers = ClearHiddenTests(parent=self)  # its delimiters, as configured
        self.markers = begin, end = markers.begin_test_delimeter, markers.end_test_delimeter
        self.hidden = {}  # execution count -> hidden line numbers of that cell
        secret, visible = [], []
        for cell in nb.cells:
            lines = cell.source.split("\n")
            hidden = hidden_lines(cell.source, begin, end)
            visible += [_normal(line) for i, line in enumerate(lines, 1) if i not in hidden]
            if not hidden:
                continue
            code = "\n".join(line for i, line in enumerate(lines, 1) if i in hidden)
            secret += [_normal(lines[i - 1]) for i in sorted(hidden)] + _strings(code)
            if cell.cell_type == "code" and cell.get("execution_count") is not None:
                self.hidden[cell.execution_count] = hidden
        shown = "\n".join(visible)
        self.secret = sorted({s for s in map(_normal, secret) if len(s) >= SHORTEST
                              and s not in shown} | {begin, end}, key=len, reverse=True)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        hidden = hidden_lines(cell.source, *self.markers)
        lines = cell.source.split("\n")
        if hidden:
            cell.source = "\n".join(line for i, line in enumerate(lines, 1) if i not in hidden)
        if cell.cell_type != "code":
            return cell, resources
        last_is_hidden = bool(hidden) and max(
            (i for i, line in enumerate(lines, 1) if line.strip()), default=0) in hidden
        outputs = []
        for output in cell.get("outputs", []):
            if output.output_type == "execute_result" and last_is_hidden:
                continue  # the value of a hidden last expression
            if output.output_type == "error":
                output = self.clean_error(output)
            elif output.output_type == "stream":
                output.text = "".join(line for line in output.text.splitlines(keepends=True)
                                      if not self.tells(line))
                if not output.text:
                    continue
            elif "text/plain" in output.get("data", {}) and self.tells(
                    output.data["text/plain"]):
                continue
            outputs.append(output)
        cell.outputs = outputs
        return cell, resources

    def tells(self, text):
        """Whether ``text`` quotes a hidden line or a hidden test's message."""
        text = _normal(ANSI.sub("", text))
        return any(secret in text for secret in self.secret)

    def clean_error(self, error):
        frames = []
        for frame in error.get("traceback", []):
            lines = frame.split("\n")
            head = FRAME.match(ANSI.sub("", lines[0]))
            hidden = self.hidden.get(int(head.group(1)), set()) if head else set()
            if head and int(head.group(2)) in hidden:
                return self.notice(error)  # the failing line of this frame is a hidden one
            frames.append("\n".join(
                lines[:1] + [line for line in lines[1:]
                             if not ((m := CONTEXT.match(ANSI.sub("", line)))
                                     and int(m.group(1)) in hidden)]))
        error.traceback = frames
        if self.tells(error.get("evalue", "")) or any(self.tells(f) for f in frames):
            return self.notice(error)
        return error

    @staticmethod
    def notice(error):
        name = error.get("ename", "Error")
        return new_output("error", ename=name, evalue=NOTICE,
                          traceback=[f"\x1b[31m{name}\x1b[39m: {NOTICE}"])
