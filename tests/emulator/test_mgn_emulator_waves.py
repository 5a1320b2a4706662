"""MGN emulator: MGN's own waves and applications, driven through boto3's mgn client."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError
from mgn_test_support import ACCOUNT, FAST, REGION, SYNCED_AFTER, ready_servers, send_raw_body

from localcloud.mgn import MgnEmulator, MgnError


def _error(exc: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    return exc.value.response


def _server_ids(mgn: Any, **filters: Any) -> list[str]:
    return [s["sourceServerID"] for s in mgn.describe_source_servers(filters=filters)["items"]]


def _app_ids(mgn: Any, **filters: Any) -> list[str]:
    return [a["applicationID"] for a in mgn.list_applications(filters=filters)["items"]]


def _wave_ids(mgn: Any, **filters: Any) -> list[str]:
    return [w["waveID"] for w in mgn.list_waves(filters=filters)["items"]]


# ---- waves -------------------------------------------------------------------------------------------


def test_create_wave_returns_the_modeled_wave(emu: MgnEmulator, mgn: Any) -> None:
    resp = mgn.create_wave(name="Wave 1", description="finance apps", tags={"owner": "migration"})

    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    wave_id = resp["waveID"]
    assert re.fullmatch(r"wave-[0-9a-zA-Z]{17}", wave_id)
    assert resp["arn"] == f"arn:aws:mgn:{REGION}:{ACCOUNT}:wave/{wave_id}"
    assert (resp["name"], resp["description"], resp["isArchived"]) == ("Wave 1", "finance apps", False)
    assert resp["tags"] == {"owner": "migration"}
    assert resp["creationDateTime"] == resp["lastModifiedDateTime"] == "2026-01-05T08:00:00Z"
    status = resp["waveAggregatedStatus"]
    assert (status["totalApplications"], status["progressStatus"], status["healthStatus"]) == (
        0,
        "NOT_STARTED",
        "HEALTHY",
    )
    assert "replicationStartedDateTime" not in status
    assert _wave_ids(mgn) == [wave_id]
    assert mgn.list_tags_for_resource(resourceArn=resp["arn"])["tags"] == {"owner": "migration"}


def test_update_wave_changes_only_what_is_given(emu: MgnEmulator, mgn: Any) -> None:
    wave_id = mgn.create_wave(name="Wave 1", description="first")["waveID"]
    emu.clock.advance(60)

    resp = mgn.update_wave(waveID=wave_id, name="Wave 1b")

    assert (resp["name"], resp["description"]) == ("Wave 1b", "first")
    assert resp["lastModifiedDateTime"] == "2026-01-05T08:01:00Z"
    assert resp["creationDateTime"] == "2026-01-05T08:00:00Z"
    assert mgn.update_wave(waveID=wave_id, description="")["description"] == ""


def test_wave_names_are_unique_ignoring_case(emu: MgnEmulator, mgn: Any) -> None:
    first = mgn.create_wave(name="Wave 1")["waveID"]
    other = mgn.create_wave(name="Wave 2")["waveID"]

    with pytest.raises(mgn.exceptions.ConflictException) as exc:
        mgn.create_wave(name="WAVE 1")
    assert _error(exc)["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert (_error(exc)["resourceId"], _error(exc)["resourceType"]) == (first, "WAVE")
    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.update_wave(waveID=other, name="wave 1")
    assert mgn.update_wave(waveID=first, name="WAVE 1")["name"] == "WAVE 1"  # renaming itself is fine
    assert len(_wave_ids(mgn)) == 2


def test_list_waves_filters_by_id_and_archive_state_and_pages(emu: MgnEmulator, mgn: Any) -> None:
    ids = [mgn.create_wave(name=f"Wave {n}")["waveID"] for n in range(5)]
    archived = mgn.archive_wave(waveID=ids[1])
    assert archived["isArchived"] is True

    assert _wave_ids(mgn, waveIDs=[ids[0], ids[1]]) == ids[:2]
    assert _wave_ids(mgn, isArchived=True) == [ids[1]]
    assert _wave_ids(mgn, isArchived=False) == [ids[0], *ids[2:]]
    assert _wave_ids(mgn, waveIDs=["wave-00000000000000000"]) == []  # unknown ids just match nothing
    pages = list(mgn.get_paginator("list_waves").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert [w["waveID"] for p in pages for w in p["items"]] == ids

    assert mgn.unarchive_wave(waveID=ids[1])["isArchived"] is False
    assert _wave_ids(mgn, isArchived=True) == []


def test_unknown_wave_is_not_found(emu: MgnEmulator, mgn: Any) -> None:
    unknown = "wave-0123456789abcdefg"
    for call in (
        lambda: mgn.update_wave(waveID=unknown, name="x"),
        lambda: mgn.delete_wave(waveID=unknown),
        lambda: mgn.archive_wave(waveID=unknown),
        lambda: mgn.associate_applications(waveID=unknown, applicationIDs=["app-0123456789abcdefg"]),
    ):
        with pytest.raises(mgn.exceptions.ResourceNotFoundException) as exc:
            call()
        assert _error(exc)["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert (_error(exc)["resourceId"], _error(exc)["resourceType"]) == (unknown, "WAVE")


def test_wave_with_applications_cannot_be_deleted(emu: MgnEmulator, mgn: Any) -> None:
    wave_id = mgn.create_wave(name="Wave 1")["waveID"]
    app_id = mgn.create_application(name="erp")["applicationID"]
    mgn.associate_applications(waveID=wave_id, applicationIDs=[app_id])

    with pytest.raises(mgn.exceptions.ConflictException) as exc:
        mgn.delete_wave(waveID=wave_id)
    err = _error(exc)
    assert (err["resourceId"], err["resourceType"]) == (wave_id, "WAVE")
    assert [e["resourceId"] for e in err["errors"]] == [app_id]

    mgn.disassociate_applications(waveID=wave_id, applicationIDs=[app_id])
    resp = mgn.delete_wave(waveID=wave_id)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert _wave_ids(mgn) == []
    assert "waveID" not in mgn.list_applications()["items"][0]


def test_archived_wave_takes_no_applications_and_no_edits(emu: MgnEmulator, mgn: Any) -> None:
    wave_id = mgn.create_wave(name="Wave 1")["waveID"]
    app_id = mgn.create_application(name="erp")["applicationID"]
    mgn.archive_wave(waveID=wave_id)

    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.associate_applications(waveID=wave_id, applicationIDs=[app_id])
    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.update_wave(waveID=wave_id, name="Wave 1b")
    mgn.unarchive_wave(waveID=wave_id)
    mgn.associate_applications(waveID=wave_id, applicationIDs=[app_id])
    assert _app_ids(mgn, waveIDs=[wave_id]) == [app_id]


# ---- applications ------------------------------------------------------------------------------------


def test_create_application_returns_the_modeled_application(emu: MgnEmulator, mgn: Any) -> None:
    resp = mgn.create_application(name="erp", description="the ERP cluster", tags={"tier": "1"})

    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    app_id = resp["applicationID"]
    assert re.fullmatch(r"app-[0-9a-zA-Z]{17}", app_id)
    assert resp["arn"] == f"arn:aws:mgn:{REGION}:{ACCOUNT}:application/{app_id}"
    assert (resp["name"], resp["description"], resp["isArchived"]) == ("erp", "the ERP cluster", False)
    assert "waveID" not in resp
    assert resp["applicationAggregatedStatus"]["totalSourceServers"] == 0
    assert _app_ids(mgn) == [app_id]
    mgn.tag_resource(resourceArn=resp["arn"], tags={"owner": "team-a"})
    assert mgn.list_tags_for_resource(resourceArn=resp["arn"])["tags"] == {"tier": "1", "owner": "team-a"}


def test_associated_servers_carry_the_application_id_and_filter_by_it(emu: MgnEmulator, mgn: Any) -> None:
    web, db, other = (emu.register_agent(h) for h in ("web01", "db01", "other01"))
    app_id = mgn.create_application(name="erp")["applicationID"]
    before = [e for e in emu.events if e["detail-type"] == "AWS API Call via CloudTrail"]

    resp = mgn.associate_source_servers(applicationID=app_id, sourceServerIDs=[web, db])

    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sorted(_server_ids(mgn, applicationIDs=[app_id])) == sorted([web, db])
    by_id = {s["sourceServerID"]: s for s in mgn.describe_source_servers()["items"]}
    assert by_id[web]["applicationID"] == by_id[db]["applicationID"] == app_id
    assert "applicationID" not in by_id[other]
    assert _server_ids(mgn, applicationIDs=["app-0123456789abcdefg"]) == []
    assert mgn.list_applications()["items"][0]["applicationAggregatedStatus"]["totalSourceServers"] == 2
    trail = [e for e in emu.events if e["detail-type"] == "AWS API Call via CloudTrail"][len(before) :]
    assert [e["detail"]["eventName"] for e in trail] == ["AssociateSourceServers"]

    mgn.disassociate_source_servers(applicationID=app_id, sourceServerIDs=[db])
    assert _server_ids(mgn, applicationIDs=[app_id]) == [web]
    assert emu.server(db).application_id is None


def test_a_server_belongs_to_at_most_one_application(emu: MgnEmulator, mgn: Any) -> None:
    web, db = emu.register_agent("web01"), emu.register_agent("db01")
    erp = mgn.create_application(name="erp")["applicationID"]
    crm = mgn.create_application(name="crm")["applicationID"]
    mgn.associate_source_servers(applicationID=erp, sourceServerIDs=[web])
    mgn.associate_source_servers(applicationID=erp, sourceServerIDs=[web])  # already there: no change

    with pytest.raises(mgn.exceptions.ConflictException) as exc:
        mgn.associate_source_servers(applicationID=crm, sourceServerIDs=[db, web])
    err = _error(exc)
    assert (err["resourceId"], err["resourceType"]) == (web, "SOURCE_SERVER")
    assert err["errors"][0]["code"] == "SOURCE_SERVER_IN_ANOTHER_APPLICATION"
    assert erp in err["Error"]["Message"]
    assert emu.server(db).application_id is None  # all or nothing

    with pytest.raises(mgn.exceptions.ConflictException):  # not a member of crm
        mgn.disassociate_source_servers(applicationID=crm, sourceServerIDs=[web])
    mgn.disassociate_source_servers(applicationID=erp, sourceServerIDs=[web])
    mgn.associate_source_servers(applicationID=crm, sourceServerIDs=[db, web])
    assert sorted(_server_ids(mgn, applicationIDs=[crm])) == sorted([web, db])


def test_unknown_application_or_server_is_not_found(emu: MgnEmulator, mgn: Any) -> None:
    web = emu.register_agent("web01")
    app_id = mgn.create_application(name="erp")["applicationID"]
    unknown_app, unknown_server = "app-0123456789abcdefg", "s-0123456789abcdefa"

    with pytest.raises(mgn.exceptions.ResourceNotFoundException) as exc:
        mgn.associate_source_servers(applicationID=unknown_app, sourceServerIDs=[web])
    assert (_error(exc)["resourceId"], _error(exc)["resourceType"]) == (unknown_app, "APPLICATION")
    with pytest.raises(mgn.exceptions.ResourceNotFoundException) as exc:
        mgn.associate_source_servers(applicationID=app_id, sourceServerIDs=[web, unknown_server])
    assert (_error(exc)["resourceId"], _error(exc)["resourceType"]) == (unknown_server, "SOURCE_SERVER")
    assert emu.server(web).application_id is None
    for call in (
        lambda: mgn.update_application(applicationID=unknown_app, name="x"),
        lambda: mgn.delete_application(applicationID=unknown_app),
        lambda: mgn.archive_application(applicationID=unknown_app),
    ):
        with pytest.raises(mgn.exceptions.ResourceNotFoundException):
            call()


def test_application_names_are_unique_ignoring_case(emu: MgnEmulator, mgn: Any) -> None:
    erp = mgn.create_application(name="ERP")["applicationID"]
    with pytest.raises(mgn.exceptions.ConflictException) as exc:
        mgn.create_application(name="erp")
    assert (_error(exc)["resourceId"], _error(exc)["resourceType"]) == (erp, "APPLICATION")
    crm = mgn.create_application(name="crm")["applicationID"]
    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.update_application(applicationID=crm, name="Erp")
    assert mgn.update_application(applicationID=crm, description="CRM")["description"] == "CRM"


def test_application_with_servers_cannot_be_deleted(emu: MgnEmulator, mgn: Any) -> None:
    web = emu.register_agent("web01")
    wave_id = mgn.create_wave(name="Wave 1")["waveID"]
    app_id = mgn.create_application(name="erp")["applicationID"]
    mgn.associate_source_servers(applicationID=app_id, sourceServerIDs=[web])
    mgn.associate_applications(waveID=wave_id, applicationIDs=[app_id])

    with pytest.raises(mgn.exceptions.ConflictException) as exc:
        mgn.delete_application(applicationID=app_id)
    assert [e["resourceId"] for e in _error(exc)["errors"]] == [web]

    mgn.disassociate_source_servers(applicationID=app_id, sourceServerIDs=[web])
    assert mgn.delete_application(applicationID=app_id)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert _app_ids(mgn) == []
    # Deleting the application took it out of its wave.
    assert mgn.list_waves()["items"][0]["waveAggregatedStatus"]["totalApplications"] == 0


def test_archived_application_takes_no_servers_and_archived_servers_join_none(
    emu: MgnEmulator, mgn: Any
) -> None:
    web, gone = emu.register_agent("web01"), emu.register_agent("gone01")
    mgn.disconnect_from_service(sourceServerID=gone)
    mgn.mark_as_archived(sourceServerID=gone)
    app_id = mgn.create_application(name="erp")["applicationID"]

    with pytest.raises(mgn.exceptions.ConflictException) as exc:
        mgn.associate_source_servers(applicationID=app_id, sourceServerIDs=[gone])
    assert _error(exc)["errors"][0]["code"] == "SOURCE_SERVER_ARCHIVED"

    assert mgn.archive_application(applicationID=app_id)["isArchived"] is True
    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.associate_source_servers(applicationID=app_id, sourceServerIDs=[web])
    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.update_application(applicationID=app_id, name="erp2")
    wave_id = mgn.create_wave(name="Wave 1")["waveID"]
    with pytest.raises(mgn.exceptions.ConflictException) as exc:
        mgn.associate_applications(waveID=wave_id, applicationIDs=[app_id])
    assert _error(exc)["errors"][0]["code"] == "APPLICATION_ARCHIVED"

    assert _app_ids(mgn, isArchived=True) == [app_id]
    assert mgn.unarchive_application(applicationID=app_id)["isArchived"] is False
    mgn.associate_source_servers(applicationID=app_id, sourceServerIDs=[web])


# ---- applications in waves -------------------------------------------------------------------------


def test_an_application_belongs_to_at_most_one_wave(emu: MgnEmulator, mgn: Any) -> None:
    wave1 = mgn.create_wave(name="Wave 1")["waveID"]
    wave2 = mgn.create_wave(name="Wave 2")["waveID"]
    erp = mgn.create_application(name="erp")["applicationID"]
    crm = mgn.create_application(name="crm")["applicationID"]
    mgn.associate_applications(waveID=wave1, applicationIDs=[erp])

    with pytest.raises(mgn.exceptions.ConflictException) as exc:
        mgn.associate_applications(waveID=wave2, applicationIDs=[crm, erp])
    err = _error(exc)
    assert (err["resourceId"], err["errors"][0]["code"]) == (erp, "APPLICATION_IN_ANOTHER_WAVE")
    assert _app_ids(mgn, waveIDs=[wave2]) == []  # all or nothing

    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.disassociate_applications(waveID=wave2, applicationIDs=[erp])
    with pytest.raises(mgn.exceptions.ResourceNotFoundException) as exc:
        mgn.associate_applications(waveID=wave2, applicationIDs=["app-0123456789abcdefg"])
    assert _error(exc)["resourceType"] == "APPLICATION"

    mgn.associate_applications(waveID=wave2, applicationIDs=[crm])
    apps = {a["applicationID"]: a for a in mgn.list_applications()["items"]}
    assert (apps[erp]["waveID"], apps[crm]["waveID"]) == (wave1, wave2)


def test_list_applications_filters_by_id_wave_and_archive_state(emu: MgnEmulator, mgn: Any) -> None:
    wave1 = mgn.create_wave(name="Wave 1")["waveID"]
    wave2 = mgn.create_wave(name="Wave 2")["waveID"]
    a, b, c, d = (mgn.create_application(name=n)["applicationID"] for n in ("a", "b", "c", "d"))
    mgn.associate_applications(waveID=wave1, applicationIDs=[a, b])
    mgn.associate_applications(waveID=wave2, applicationIDs=[c])
    mgn.archive_application(applicationID=b)

    assert _app_ids(mgn) == [a, b, c, d]
    assert _app_ids(mgn, applicationIDs=[b, d]) == [b, d]
    assert _app_ids(mgn, waveIDs=[wave1]) == [a, b]
    assert _app_ids(mgn, waveIDs=[wave1, wave2]) == [a, b, c]
    assert _app_ids(mgn, waveIDs=[wave1], isArchived=False) == [a]
    assert _app_ids(mgn, isArchived=True) == [b]
    assert _app_ids(mgn, applicationIDs=[a, c], waveIDs=[wave2]) == [c]
    pages = list(mgn.get_paginator("list_applications").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["items"]) for p in pages] == [3, 1]
    waves = {w["waveID"]: w["waveAggregatedStatus"]["totalApplications"] for w in mgn.list_waves()["items"]}
    assert waves == {wave1: 2, wave2: 1}


def test_aggregated_status_follows_the_servers(emu: MgnEmulator, mgn: Any) -> None:
    web, db = emu.register_agent("web01"), emu.register_agent("db01")
    wave_id = emu.create_wave("Wave 1")
    app_id = emu.create_application("erp", wave_id, [web, db])

    def statuses() -> tuple[dict[str, Any], dict[str, Any]]:
        app = mgn.list_applications(filters={"applicationIDs": [app_id]})["items"][0]
        wave = mgn.list_waves(filters={"waveIDs": [wave_id]})["items"][0]
        return app["applicationAggregatedStatus"], wave["waveAggregatedStatus"]

    app, wave = statuses()
    assert (app["progressStatus"], app["totalSourceServers"]) == ("NOT_STARTED", 2)
    assert (wave["progressStatus"], wave["totalApplications"]) == ("NOT_STARTED", 1)

    emu.clock.advance(SYNCED_AFTER + 1)
    app, wave = statuses()
    assert (app["progressStatus"], app["healthStatus"]) == ("IN_PROGRESS", "HEALTHY")
    assert wave["progressStatus"] == "IN_PROGRESS"
    # Replication started when the agents' first bytes arrived, at the end of INITIATING.
    assert wave["replicationStartedDateTime"] == "2026-01-05T08:01:00Z"
    assert app["lastUpdateDateTime"] == "2026-01-05T08:11:01Z"

    mgn.update_replication_configuration(sourceServerID=db, dataPlaneRouting="PUBLIC_IP")
    emu.clock.advance(FAST.initiating_seconds + 1)  # the closed network stalls db01
    app, wave = statuses()
    assert (app["healthStatus"], wave["healthStatus"]) == ("ERROR", "ERROR")


# ---- test-side helpers -----------------------------------------------------------------------------


def test_helpers_set_up_waves_and_applications_without_api_calls(emu: MgnEmulator, mgn: Any) -> None:
    ids = ready_servers(emu, 60)
    events_before = len(emu.events)

    wave_id = emu.create_wave("Wave 1", description="first wave", tags={"owner": "team-a"})
    app_id = emu.create_application("erp", wave_id, ids)  # more than one AssociateSourceServers holds
    empty = emu.create_application("spare")

    assert emu.calls == [] and len(emu.events) == events_before
    assert emu.application(app_id).wave_id == wave_id and emu.application(empty).wave_id is None
    assert emu.wave(wave_id).tags == {"owner": "team-a"}
    assert sorted(_server_ids(mgn, applicationIDs=[app_id])) == sorted(ids)
    assert _app_ids(mgn, waveIDs=[wave_id]) == [app_id]
    with pytest.raises(MgnError) as exc:  # the same rules as the API
        emu.create_application("ERP")
    assert exc.value.code == "ConflictException"


# ---- model validation ------------------------------------------------------------------------------


def test_ids_and_names_are_validated_against_the_model(emu: MgnEmulator, mgn: Any) -> None:
    bad_wave = "wave-0123456789abcdef!"  # right length (botocore checks that), wrong characters
    with pytest.raises(mgn.exceptions.ValidationException) as exc:
        mgn.delete_wave(waveID=bad_wave)
    assert _error(exc)["fieldList"][0]["name"] == "waveID"

    with pytest.raises(mgn.exceptions.ValidationException) as exc:
        mgn.create_application(name=" leading space")  # the model's name pattern forbids it
    assert _error(exc)["fieldList"][0]["name"] == "name"

    with pytest.raises(mgn.exceptions.ValidationException) as exc:
        mgn.list_applications(filters={"waveIDs": ["wave-0123456789abcdef$"]})
    assert _error(exc)["fieldList"][0]["name"].startswith("filters.waveIDs[0]")

    with pytest.raises(mgn.exceptions.ValidationException) as exc:
        mgn.create_wave(name="Wave 1", tags={"aws:owner": "x"})
    assert _error(exc)["fieldList"][0]["name"] == "tags.aws:owner"
    assert _wave_ids(mgn) == []


def test_unknown_and_missing_fields_are_rejected(emu: MgnEmulator, mgn: Any) -> None:
    app_id = mgn.create_application(name="erp")["applicationID"]
    with pytest.raises(mgn.exceptions.ValidationException) as exc:
        send_raw_body(
            mgn,
            "AssociateSourceServers",
            {"applicationID": app_id},
            applicationID=app_id,
            sourceServerIDs=["s-0123456789abcdefa"],
        )
    assert {p["name"] for p in _error(exc)["fieldList"]} == {"sourceServerIDs"}

    with pytest.raises(mgn.exceptions.ValidationException) as exc:
        send_raw_body(
            mgn, "CreateWave", {"name": "Wave 1", "waveID": "wave-0123456789abcdefg"}, name="Wave 1"
        )
    assert _error(exc)["fieldList"][0] == {"name": "waveID", "message": "unknown field"}

    with pytest.raises(mgn.exceptions.ValidationException):  # more than the model's 50 per call
        mgn.associate_source_servers(applicationID=app_id, sourceServerIDs=[f"s-{n:017d}" for n in range(51)])
