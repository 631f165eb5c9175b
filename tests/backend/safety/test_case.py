"""The safety case as data: the shipped case loads and reads only evidence the shipped gate
produces; every broken case is refused with every problem named by its node."""

from __future__ import annotations

import fnmatch
import textwrap
from pathlib import Path

import pytest

from backend.errors import InvalidInputError, SafetyCaseError
from backend.evaluation.slices import SliceSpec
from backend.release.gate import load_gate
from backend.safety.case import DEFAULT_CASE_FILE, find_cycle, load_case, parse_case
from backend.safety.gsn import NodeKind
from tests.backend.safety.conftest import CASE_YAML


def problems_of(text: str, tail: str = "") -> list[str]:
    """The problems of the case ``text`` (dedented) followed by ``tail``."""
    with pytest.raises(SafetyCaseError) as caught:
        parse_case(textwrap.dedent(text) + tail, "bad.yaml")
    assert str(caught.value).startswith(f"safety case bad.yaml: {len(caught.value.problems)}")
    return caught.value.problems


GOOD_TAIL = """
Sn1:
  text: evidence
  gate: verdict
"""


def test_the_shipped_case_loads_with_its_open_items() -> None:
    case = load_case()
    assert case.source == "case.yaml" and case.root == "G1"
    assert case.name == "longtail-perception"
    assert case.node("G1").kind is NodeKind.GOAL
    assert "acceptably safe" in case.node("G1").text
    assert case.undeveloped == ["G4_floor", "G4_new", "G7"]
    kinds = {n.kind for n in case}
    assert kinds == set(NodeKind)
    assert case.claims("Sn4_stroller") == ("G4_stroller",)
    assert len(case.digest) == 64 and case.text == DEFAULT_CASE_FILE.read_text()


def test_every_spi_of_the_shipped_case_reads_a_row_the_shipped_gate_writes() -> None:
    """A slice name, metric or check that the suite and gate never produce would leave its
    SPI challenged (missing) forever: each must match a slice of the suite and a gate rule."""
    case, gate = load_case(), load_gate()
    slices = set(SliceSpec().names())
    for spi in case.spis():
        if spi.check == "label_agreement":
            assert gate.min_label_agreement is not None
            assert spi.threshold == gate.min_label_agreement
            continue
        assert spi.slice in slices, spi
        rules = [
            r
            for r in gate.rules
            if fnmatch.fnmatchcase(spi.slice, r.slice) and fnmatch.fnmatchcase(spi.metric, r.metric)
        ]
        kinds = {
            kind
            for r in rules
            for kind, present in (
                ("floor", r.floor is not None),
                ("ceiling", r.ceiling is not None),
                ("no_regression", r.delta is not None),
            )
            if present
        }
        assert spi.check in kinds, (spi, rules)
    covered = {s.slice for s in case.spis()}
    assert slices - {"all"} <= covered  # every triggering-condition slice is argued


def test_a_dangling_reference_is_refused_naming_the_node_and_the_missing_id() -> None:
    problems = problems_of(
        """
        G1:
          text: top
          supportedBy: [Sn1, Sn2]
          inContextOf: [C9]
        """,
        GOOD_TAIL,
    )
    assert problems == [
        "G1: supportedBy names 'Sn2', which is no node of the case",
        "G1: inContextOf names 'C9', which is no node of the case",
    ]


def test_a_cycle_is_refused_with_its_path() -> None:
    problems = problems_of(
        """
        G1:
          text: top
          supportedBy: [S1]
        S1:
          text: strategy
          supportedBy: [G2]
        G2:
          text: loops back
          supportedBy: [G3]
        G3:
          text: and again
          supportedBy: [G2]
        """
    )
    assert problems == ["G2: supportedBy forms a cycle G2 -> G3 -> G2"]
    assert find_cycle({"a": ("b",), "b": ("c",), "c": ()}) is None


def test_an_spi_without_a_threshold_is_refused_naming_the_node() -> None:
    problems = problems_of(
        """
        G1:
          text: top
          supportedBy: [Sn7]
        Sn7:
          text: recall
          spi: {slice: all, metric: recall, check: floor, comparator: ">=", owner: alice}
        """
    )
    assert problems == ["Sn7: spi has no threshold: an indicator must state the value it holds to"]


def test_bad_spis_name_each_bad_key() -> None:
    problems = problems_of(
        """
        G1:
          text: top
          supportedBy: [Sn1, Sn2, Sn3]
        Sn1:
          text: a glob
          spi: {slice: "class:*", metric: recall, check: floor, comparator: ">=",
                threshold: .nan, owner: a}
        Sn2:
          text: wrong check and comparator, no owner
          spi: {slice: all, metric: recall, check: average, comparator: "=>", threshold: 1,
                bogus: 2}
        Sn3:
          text: a data check on a slice
          spi: {slice: all, metric: label_agreement, check: label_agreement, comparator: ">=",
                threshold: true, owner: a}
        """
    )
    assert problems == [
        "Sn1: spi.threshold must be a finite number, got nan",
        "Sn1: spi.slice must be one slice's exact name, got 'class:*'",
        "Sn2: spi.bogus: unknown key; allowed: "
        "['check', 'comparator', 'metric', 'owner', 'slice', 'threshold']",
        "Sn2: spi.check must be one of ['floor', 'ceiling', 'no_regression', "
        "'label_agreement', 'drift'], got 'average'",
        "Sn2: spi.comparator must be one of ['>=', '>', '<=', '<'], got '=>'",
        "Sn2: spi.owner must name who answers for the indicator, got None",
        "Sn3: spi.threshold must be a finite number, got True",
        "Sn3: spi.slice must be empty for a label_agreement check, got 'all'",
    ]


def test_links_of_the_wrong_kind_are_refused() -> None:
    problems = problems_of(
        """
        G1:
          text: top
          supportedBy: [C1, S1]
          inContextOf: [G2]
        S1:
          text: strategy supported by a solution
          supportedBy: [Sn1]
        G2:
          text: a goal as context
          undeveloped: true
        C1:
          text: context
        Sn1:
          text: evidence with context
          gate: verdict
          inContextOf: [C1]
        """
    )
    assert problems == [
        "G1: a goal cannot be supportedBy C1 (a context); a goal is supported by goal, "
        "solution, strategy",
        "G1: inContextOf names G2, a goal; only contexts, assumptions and justifications "
        "give context",
        "S1: a strategy cannot be supportedBy Sn1 (a solution); a strategy is supported by goal",
        "Sn1: a solution cannot have inContextOf (only goals and strategies)",
    ]


def test_unsupported_goals_must_be_marked_undeveloped_and_marked_ones_are_open() -> None:
    problems = problems_of(
        """
        G1:
          text: top
          supportedBy: [G2, G3, S1]
        G2:
          text: forgotten
        G3:
          text: both
          undeveloped: true
          supportedBy: [Sn1]
        S1:
          text: a strategy left open
        """,
        GOOD_TAIL,
    )
    assert problems == [
        "G2: a goal without support; argue it (supportedBy) or mark it 'undeveloped: true'",
        "G3: is marked undeveloped but is supportedBy ['Sn1']",
        "S1: a strategy without support; argue it (supportedBy) or mark it 'undeveloped: true'",
    ]
    case = parse_case(CASE_YAML)
    assert case.undeveloped == ["G5"]


def test_structure_one_goal_on_top_reaching_everything() -> None:
    two_tops = problems_of(
        """
        G1:
          text: top
          supportedBy: [Sn1]
        G2:
          text: another top
          supportedBy: [Sn1]
        """,
        GOOD_TAIL,
    )
    assert two_tops == [
        "G1, G2: a case has exactly one top-level node (no other node names it); found 2"
    ]
    strategy_on_top = problems_of(
        """
        S1:
          text: top strategy
          supportedBy: [G1]
        G1:
          text: goal
          supportedBy: [Sn1]
        """,
        GOOD_TAIL,
    )
    assert strategy_on_top == ["S1: the top-level node must be a goal, not a strategy"]


def test_nodes_keys_and_yaml_are_checked() -> None:
    problems = problems_of(
        """
        G1:
          text: top
          supportedBy: Sn1, Sn2
          suportedBy: [Sn1]
        X1:
          text: no prefix
        CG1:
          text: a counter goal
        Sn1:
          text: cites nothing
        Sn2:
          text: ""
          gate: verdict
          spi: {slice: all, metric: recall, check: floor, comparator: ">=", threshold: 1,
                owner: a}
        A1:
          text: an undeveloped assumption
          undeveloped: yes please
        """
    )
    assert problems == [
        "G1: unknown key 'suportedBy'; allowed: ['charWrap', 'classes', 'gate', "
        "'horizontalIndex', 'inContextOf', 'level', 'nodeType', 'rankIncrement', 'spi', "
        "'supportedBy', 'text', 'undeveloped', 'url', 'wordWrap']",
        "X1: the id starts with no GSN prefix (G, S, Sn, C, A, J) and gives no nodeType",
        "CG1: counter goals and solutions (GSN's dialectic extension) are not supported; give "
        "nodeType for an id that starts with CG or CSn",
        "Sn1: a solution must cite evidence the loop produces: give it an spi (a gate "
        "evidence row and a threshold) or 'gate: verdict'",
        "Sn2: text must be 1 to 2000 characters, got ''",
        "Sn2: cites both an spi and the gate verdict; give one",
        "A1: undeveloped must be true or false, got 'yes please'",
        "G1: supportedBy names 'Sn1, Sn2', which is no node of the case (a list is written [A, B])",
    ]
    assert problems_of("G1: {text: a, supportedBy: [Sn1]}\nG1: {text: b}\n") == [
        "G1: the key is given twice (line 2); give each once"
    ]
    assert problems_of("- a list\n") == ["must be a mapping of node ids to nodes"]
    assert problems_of("G1: [unclosed\n")[0].startswith("not valid YAML")


def test_gsn2x_forms_are_accepted() -> None:
    """gsn2x's nodeType, a single reference as a string, layout keys and module info."""
    case = parse_case(
        textwrap.dedent(
            """
            module: {name: m, brief: a module}
            Top:
              nodeType: Goal
              text: top
              supportedBy: Sn1
              url: https://example.org/top
              classes: [important]
              inContextOf: [J1]
            J1: {text: why}
            """
        )
        + GOOD_TAIL
    )
    assert case.root == "Top" and case.node("Top").supported_by == ("Sn1",)
    assert case.node("J1").kind is NodeKind.JUSTIFICATION
    assert [(x.source, x.target, x.kind) for x in case.links()] == [
        ("Top", "Sn1", "supportedBy"),
        ("Top", "J1", "inContextOf"),
    ]


def test_load_case_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SafetyCaseError, match=r"missing\.yaml: 1 problem\(s\)\n  cannot read"):
        load_case(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(SafetyCaseError, match="not UTF-8"):
        load_case(bad)
    assert issubclass(SafetyCaseError, InvalidInputError)
