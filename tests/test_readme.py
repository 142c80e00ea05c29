"""No figure in the README is typed by hand: its generated blocks follow from the records in
``autograder/results/`` (``python -m autograder readme`` rewrites them)."""
import copy

import pytest

from autograder import readme, reference


def test_readme_figures_follow_from_the_records():
    text = readme.README.read_text()
    assert readme.render(text) == text, (
        "README.md's figures differ from autograder/results/: run `python -m autograder readme`")


def test_the_table_changes_when_a_record_changes():
    """The generated table really reads the records: change one accuracy, the table changes."""
    records = {e: reference.load_records(e) for e in reference.RUNNERS}
    before = readme.reference_section(records)
    changed = copy.deepcopy(records)
    changed["mlp"][0]["accuracy"] -= 0.25
    assert readme.reference_section(changed) != before


def test_a_readme_without_its_generated_blocks_is_refused():
    with pytest.raises(ValueError, match="lacks the generated blocks"):
        readme.render("# A README with no generated figures\n")
