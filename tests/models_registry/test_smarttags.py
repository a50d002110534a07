from __future__ import annotations

import pytest

from jobs.runner.smarttags import SmartTagError, parse_smart_tags
from models_registry import demo

MODELOP_STYLE = """\
# modelop.schema.0: input_schema.avsc
# modelop.schema.1: output_schema.avsc
# modelop.recordsets.0: true
# modelop.recordsets.1: false
import pickle

# modelop.init
def begin():
    pass

#modelop.score
def action(datum):
    yield datum

# modelop.metrics
def metrics(df):
    yield {}

# modelop.train
def train(df):
    pass
"""


def test_finds_all_four_functions_with_and_without_the_space():
    tags = parse_smart_tags(MODELOP_STYLE)
    assert tags.functions == {
        "init": "begin",
        "score": "action",
        "metrics": "metrics",
        "train": "train",
    }


def test_reads_schema_and_recordsets_header_tags():
    tags = parse_smart_tags(MODELOP_STYLE)
    assert (tags.input_schema, tags.output_schema) == ("input_schema.avsc", "output_schema.avsc")
    assert (tags.recordsets_in, tags.recordsets_out) == (True, False)
    assert tags.batch is False


def test_reads_the_batch_tag_of_the_demo_model():
    tags = parse_smart_tags(demo.source())
    assert tags.batch is True
    assert tags.functions == {"init": "begin", "score": "action"}


def test_function_names_are_free():
    tags = parse_smart_tags("# modelop.score\ndef whatever_name(x):\n    return x\n")
    assert tags.functions == {"score": "whatever_name"}


def test_blank_and_comment_lines_may_stand_between_tag_and_function():
    source = "# modelop.score\n\n# a note\n@staticmethod\ndef f(x):\n    return x\n"
    assert parse_smart_tags(source).functions == {"score": "f"}


def test_a_tag_above_a_nested_function_is_refused_with_its_line():
    source = "def outer():\n    # modelop.score\n    def inner(x):\n        return x\n"
    with pytest.raises(SmartTagError, match="line 2"):
        parse_smart_tags(source)


def test_a_source_without_job_functions_is_refused_clearly():
    with pytest.raises(SmartTagError, match=r"no function tagged '# modelop.score'"):
        parse_smart_tags("# modelop.init\ndef begin():\n    pass\n")


def test_a_source_that_is_not_python_is_refused_with_the_line():
    with pytest.raises(SmartTagError, match="line 2"):
        parse_smart_tags("# modelop.score\ndef f(:\n", filename="bad.py")


def test_two_functions_with_the_same_tag_are_refused():
    source = "# modelop.score\ndef a(x):\n    pass\n\n# modelop.score\ndef b(x):\n    pass\n"
    with pytest.raises(SmartTagError, match="two functions"):
        parse_smart_tags(source)


def test_tags_round_trip_through_a_dict():
    from jobs.runner.smarttags import SmartTags

    tags = parse_smart_tags(MODELOP_STYLE)
    assert SmartTags.from_dict(tags.as_dict()) == tags


@pytest.mark.parametrize(
    "expression",
    ["-" * 100_000 + "1", "+".join(["1"] * 200_000)],
    ids=["parser-memory-error", "parser-recursion-error"],
)
def test_a_source_too_deeply_nested_for_the_parser_is_a_smart_tag_error(expression):
    source = f"# modelop.score\ndef action(x):\n    return {expression}\n"
    with pytest.raises(SmartTagError, match="too deeply nested for Python to parse"):
        parse_smart_tags(source)


FASTSCORE_MODEL = """\
# fastscore.schema.0: in.avsc
# fastscore.schema.1: out.avsc
# fastscore.recordsets.0: true
# fastscore.slot.0: in-use
# fastscore.slot.1: in-use
# fastscore.slot.2: in-use
# fastscore.schema.2: second.avsc

# fastscore.begin
def start():
    pass

# fastscore.action
def act(datum, slot):
    yield datum
"""


def test_legacy_fastscore_tags_mean_what_their_modelop_counterparts_mean():
    tags = parse_smart_tags(FASTSCORE_MODEL, filename="model.py3")
    assert tags.functions == {"init": "start", "score": "act"}
    assert (tags.input_schema, tags.output_schema, tags.recordsets_in) == (
        "in.avsc", "out.avsc", True,
    )  # fmt: skip
    assert tags.slots == {"0": "in-use", "1": "in-use", "2": "in-use"}
    assert tags.schemas == {"2": "second.avsc"}


def test_a_slot_is_in_use_or_unused():
    with pytest.raises(SmartTagError, match="a slot is 'in-use' or 'unused', not 'maybe'"):
        parse_smart_tags("# modelop.slot.0: maybe\n# modelop.score\ndef f(x):\n    return x\n")
