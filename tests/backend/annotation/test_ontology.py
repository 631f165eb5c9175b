"""The ontology: version 1 is the project taxonomy with stable point ids; classes and attributes
are checked by name; a new class makes a new version; the stored form round-trips."""

from __future__ import annotations

import pytest

from backend.annotation.ontology import Ontology, default_ontology
from backend.errors import InvalidInputError
from core.classes import POINT_CLASS_IDS


def test_version_1_is_the_taxonomy_with_its_stable_point_ids() -> None:
    onto = default_ontology()
    assert onto.version == 1
    groups = {c.name: c.group for c in onto.classes}
    assert groups["car"] == "known" and groups["stroller"] == "rare"
    assert groups["unknown_obstacle"] == "unknown" and groups["road"] == "stuff"
    assert {c.name: c.point_id for c in onto.classes} == {
        k: v for k, v in POINT_CLASS_IDS.items() if k != "unlabelled"
    }
    assert "road" not in onto.object_classes and "unknown_obstacle" in onto.object_classes
    assert onto.by_name["pedestrian"].is_vru and onto.by_name["bus"].is_vehicle


def test_stored_form_round_trips_and_a_new_class_is_a_new_version() -> None:
    onto = default_ontology()
    assert Ontology.from_document(onto.document()) == onto
    grown = onto.with_class("wheelchair_ramp", "stuff")
    assert grown.version == 2 and grown.by_name["wheelchair_ramp"].point_id == 61
    assert onto.version == 1 and "wheelchair_ramp" not in onto.by_name  # never changed in place
    with pytest.raises(InvalidInputError, match="already in ontology v1"):
        onto.with_class("car", "known")
    with pytest.raises(InvalidInputError, match="malformed ontology document"):
        Ontology.from_document({"version": 3})


def test_attributes_are_completed_and_checked_by_name() -> None:
    onto = default_ontology()
    assert onto.check_attributes({"occluded": "partly"}, "box 'b'") == {
        "occluded": "partly",
        "truncated": "no",
        "motion": "unknown",
    }
    with pytest.raises(InvalidInputError, match=r"box 'b': unknown attribute 'colour'"):
        onto.check_attributes({"colour": "red"}, "box 'b'")
    with pytest.raises(InvalidInputError, match="motion='flying' is not one of"):
        onto.check_attributes({"motion": "flying"}, "box 'b'")
