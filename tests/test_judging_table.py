"""The README's table of what judges each question, read from the hidden tests."""

from __future__ import annotations

from autograder.authoring import judging
from autograder.course import REPO_ROOT
from autograder.grading.judging.rules import RULES


def test_rules_are_read_from_every_form_of_call():
    """Are positional, keyword, default and computed rules all read, in source order, once?"""
    source = (
        "graded.answer('a', x)\n"
        "graded.answer('b', y, 'equal', case='c')\n"
        "graded.answer('c', z, rule='floats')\n"
        "graded.answer('d', w, chosen)\n"
        "graded.answer('e', v, 'equal')\n"
        "graded.answer('f', v, 'same_as' if a else 'repeats')\n"
    )
    assert judging.rules_of(source) == ["close", "equal", "floats", "?", "same_as", "repeats"]


def test_every_rule_the_solutions_name_is_one_the_grader_has():
    """Does every hidden answer name a rule the grader knows, by a literal a reader can see?"""
    named = {rule for *_, rules in judging.rows() for rule in rules}
    assert named, "no hidden answers found in the solutions"
    assert named <= set(RULES), sorted(named - set(RULES))
    # rules that judged what the kernel observed about itself are gone for good
    assert not {"true", "at_most", "accuracy"} & set(RULES)


def test_readme_table_is_current():
    """Does the README list exactly what the hidden tests judge today?"""
    readme = (REPO_ROOT / "README.md").read_text()
    assert judging.stamp_readme(readme) == readme, "run `make release`"
